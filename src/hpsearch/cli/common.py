"""What the commands share: their common options, the default database, and how errors and warnings print."""

from __future__ import annotations

from typing import Annotated

import typer

from hpsearch.errors import HpsearchError, SpaceError

StorageOption = Annotated[
    str | None,
    typer.Option("--storage", help="Database URL; overrides $HPSEARCH_STORAGE and the file's study.storage."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY.PATH=VALUE",
                 help="Override a value of the file, e.g. --set space.max_steps.high=20 (repeatable)."),
]


def report(exc: HpsearchError, ctx: typer.Context) -> None:
    """Print `exc` as one line per problem on stderr (the traceback first under --debug)."""
    if ctx.find_root().params.get("debug"):
        import traceback

        traceback.print_exception(exc)
    lines = [str(p) for p in exc.problems] if isinstance(exc, SpaceError) else [f"error: {exc}"]
    for line in lines:
        typer.echo(line, err=True)


def warn(spec) -> None:
    """The spec's warnings, one line each on stderr."""
    for problem in spec.warnings:
        typer.echo(f"{problem} [warning]", err=True)
