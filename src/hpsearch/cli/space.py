"""The commands about search-space files and the catalogue: ranges, validate. Neither touches a database
or imports torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hpsearch.cli.common import SetOption, report, warn
from hpsearch.errors import HpsearchError, UsageError


def ranges(
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """The catalogue: every hyperparameter hpsearch tunes, with its documented and recommended ranges."""
    from hpsearch.spec import catalog, recommended

    advice: dict[str, list[dict]] = {}
    for row in recommended.table():
        advice.setdefault(row["name"], []).append({k: v for k, v in row.items() if k != "name"})
    if format == "json":
        typer.echo(json.dumps([{**hp.to_dict(), "recommended": advice.get(hp.name, [])}
                               for hp in catalog.CATALOG.values()], indent=2))
        return
    if format != "table":
        raise UsageError(f"--format must be table or json, but got {format!r}")
    from rich.console import Console
    from rich.table import Table

    table = Table(title="hpsearch catalogue", caption="top_p and top_k follow the standard definitions; "
                  "the source of their ranges describes them the other way round.")
    table.add_column("#", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("documented range", max_width=34)
    table.add_column("recommended for fine-tuning (setting: value, range)", max_width=44)
    table.add_column("source of the recommendation", max_width=44)
    table.add_column("default", no_wrap=True)
    table.add_column("acts on", max_width=40)
    table.add_column("meaning", max_width=60)
    for index, hp in enumerate(catalog.CATALOG.values(), start=1):
        number = str(index) if hp.parent is None else f"{hp.parent[0]}={'/'.join(hp.parent[1])}"
        number = "peft=lora" if hp.peft else "gpu" if hp.gpu else number  # beyond the documented 19
        number = f"task={'/'.join(hp.tasks)}" + (" peft=lora" if hp.peft else "") if hp.tasks else number
        kind = f"{hp.kind} {hp.scale}" if hp.kind != "categorical" else hp.kind
        rows = advice.get(hp.name, [])
        table.add_row(number, hp.name, kind, _range_text(hp), "\n".join(_advice_text(r) for r in rows) or "-",
                      "\n".join(dict.fromkeys(r["source"] for r in rows)) or "-", str(hp.default), hp.acts_on,
                      hp.meaning + (f"; {hp.note}" if hp.note else ""))
    console = Console()
    if not console.is_terminal:
        console = Console(width=220)
    console.print(table)


def _advice_text(row: dict) -> str:
    setting = "any" if row["method"] == row["size"] == "any" else f"{row['method']}/{row['size']}"
    value = f"{row['value']:g}" if isinstance(row["value"], float) else str(row["value"])
    span = "" if row["low"] is None else f", {row['low']:g} .. {row['high']:g}"
    return f"{setting}: {value}{span}"


def _range_text(hp) -> str:
    if hp.choices:
        return ", ".join(map(str, hp.choices)) + (" (or names)" if hp.free_text else "")
    if hp.low is None:
        return "none documented"
    text = f"{hp.low:g} .. {hp.high:g}"
    return text if hp.documented else f"{text} (conventional, not documented)"


def validate(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Search-space files to check.")],
    overrides: SetOption = None,
) -> None:
    """Check search-space files without training or touching any database."""
    from hpsearch.spec.space import load_space

    code = 0
    for file in files:
        try:
            spec = load_space(file, overrides or [])
        except HpsearchError as exc:
            report(exc, ctx)
            code = max(code, exc.exit_code)
            continue
        warn(spec)
        typer.echo(f"{file}: ok ({len(spec.space)} searched, {len(spec.fixed)} fixed)")
    if code:
        raise typer.Exit(code)
