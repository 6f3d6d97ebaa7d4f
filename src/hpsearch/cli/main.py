"""The `hpsearch` command: each command parses its arguments, calls one function, and prints.

Heavy libraries (optuna, torch, transformers) are imported inside the commands that need them, so
`hpsearch --help`, `ranges` and `validate` answer quickly. Only HpsearchError is caught: it becomes
one line per problem and the error's exit code (2 for bad input); `--debug` shows the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from hpsearch.errors import HpsearchError, SpaceError, UsageError

app = typer.Typer(
    help="Hyperparameter search for fine-tuning language models, on Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}

StorageOption = Annotated[
    str | None,
    typer.Option("--storage", help="Database URL; overrides $HPSEARCH_STORAGE and the file's study.storage."),
]

NTrialsOption = Annotated[int | None, typer.Option("--n-trials", help="Override study.n_trials for this run.")]
TimeoutOption = Annotated[str | None, typer.Option("--timeout", help="Override study.timeout (15m, 2h).")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY.PATH=VALUE",
                 help="Override a value of the file, e.g. --set space.max_steps.high=20 (repeatable)."),
]
NJobsOption = Annotated[int | None, typer.Option("--n-jobs", help="Trials at once (override study.n_jobs).")]
GpusOption = Annotated[
    str | None,
    typer.Option("--gpus", metavar="0,1,...", help="GPUs to use, one trial on each at a time (default: every "
                 "visible one; none: the CPU)."),
]


@app.callback()
def main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False) -> None:
    _state["debug"] = debug


def _report(exc: HpsearchError) -> None:
    """Print `exc` as one line per problem (the traceback too under --debug)."""
    if _state["debug"]:
        import traceback

        traceback.print_exception(exc)
    lines = [str(p) for p in exc.problems] if isinstance(exc, SpaceError) else [f"error: {exc}"]
    for line in lines:
        typer.echo(line, err=True)


def _fail(exc: HpsearchError) -> typer.Exit:
    _report(exc)
    return typer.Exit(exc.exit_code)


def _warn(spec) -> None:
    for problem in spec.warnings:
        typer.echo(f"{problem} [warning]", err=True)


@app.command()
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
        raise _fail(UsageError(f"--format must be table or json, but got {format!r}"))
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
        return ", ".join(hp.choices) + (" (or names)" if hp.free_text else "")
    if hp.low is None:
        return "none documented"
    text = f"{hp.low:g} .. {hp.high:g}"
    return text if hp.documented else f"{text} (conventional, not documented)"


@app.command()
def validate(
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
            _report(exc)
            code = max(code, exc.exit_code)
            continue
        _warn(spec)
        typer.echo(f"{file}: ok ({len(spec.space)} searched, {len(spec.fixed)} fixed)")
    if code:
        raise typer.Exit(code)


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="The search-space file.")],
    n_trials: NTrialsOption = None,
    timeout: TimeoutOption = None,
    n_jobs: NJobsOption = None,
    storage: StorageOption = None,
    overrides: SetOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print sampled configurations; train nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Continue a study whose stored space differs.")] = False,
    gpus: GpusOption = None,
) -> None:
    """Run (or continue) the study a search-space file declares."""
    from hpsearch.spec.space import load_space

    try:
        spec = load_space(file, overrides or []).with_budget(n_trials=n_trials, timeout=timeout, n_jobs=n_jobs)
        _warn(spec)
        if dry_run:
            from hpsearch.spec.suggest import sample

            _print_configurations(spec, sample(spec, spec.study.n_trials))
            return
        _run(spec, storage, force, gpus)
    except HpsearchError as exc:
        raise _fail(exc) from None


@app.command()
def resume(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    n_trials: NTrialsOption = None,
    timeout: TimeoutOption = None,
    n_jobs: NJobsOption = None,
    storage: StorageOption = None,
    gpus: GpusOption = None,
) -> None:
    """Continue a study from what the database holds, without its YAML file."""
    _continue(name, storage, gpus, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs)


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    storage: StorageOption = None,
    n_jobs: NJobsOption = None,
    timeout: TimeoutOption = None,
    gpus: GpusOption = None,
) -> None:
    """Join a study from another machine: run its trials, from the space stored in the database, within its budget."""
    _continue(name, storage, gpus, timeout=timeout, n_jobs=n_jobs)


def _continue(name: str, storage: str | None, gpus: str | None, **budget) -> None:
    """Run study `name` from the spec its database holds (resume and worker); the stored spec is not changed."""
    from hpsearch.store.studies import load_stored_spec, storage_for

    try:
        url = storage or _default_storage()
        spec = load_stored_spec(name, storage_for(url, read_only=True)).with_budget(**budget)
        _run(spec, url, force=False, gpus=gpus)
    except HpsearchError as exc:
        raise _fail(exc) from None


@app.command()
def copy(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    source: Annotated[str, typer.Option("--from", help="The database URL that holds the study.")],
    destination: Annotated[str, typer.Option("--to", help="The database URL to copy it into.")],
) -> None:
    """Copy a study with all its trials to another database (kept models and other files stay where they are)."""
    from hpsearch.spec.storage_url import redact
    from hpsearch.store.studies import copy as copy_study

    try:
        count = copy_study(name, source, destination)
    except HpsearchError as exc:
        raise _fail(exc) from None
    typer.echo(f"copied study {name} ({count} trials) from {redact(source)} to {redact(destination)}; files "
               "(kept models, cached data) were not copied: they stay beside the source")
    typer.echo(f"continue it there: hpsearch worker {name} --storage {redact(destination)}")


def _default_storage() -> str:
    import os

    from hpsearch.spec.storage_url import DEFAULT_STORAGE, STORAGE_ENV

    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def _run(spec, storage: str | None, force: bool, gpus: str | None = None) -> None:
    from hpsearch.run.progress import Progress
    from hpsearch.run.study_loop import run_study
    from hpsearch.spec.storage_url import redact

    summary = run_study(spec, storage=storage, force=force, progress=Progress(), devices=gpus)
    states = ", ".join(f"{k.lower()} {v}" for k, v in summary.states.items())
    typer.echo(f"study {summary.study_name}: {summary.finished}/{summary.target} trials finished ({states}); "
               f"this run: {summary.ran} trials" + (" (stopped by its timeout)" if summary.stopped_by == "timeout"
                                                    else ""))
    for warning in summary.warnings:
        typer.echo(warning)
    if summary.infeasible:
        typer.echo(f"{summary.infeasible} complete trials break a constraint (infeasible: never the best)")
    if summary.best_value is not None:
        values = ", ".join(f"{k}={v}" for k, v in summary.best_params.items())
        typer.echo(f"best {spec.metric}: {summary.best_value:.4f} with {values}")
        if len(summary.best_metrics) > 1:
            typer.echo("  its metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in summary.best_metrics.items()))
    elif spec.study.constraints and summary.infeasible:
        typer.echo("no trial meets the constraints yet")
    if summary.pareto:
        _print_pareto(spec, summary.pareto)
    if summary.best_model_dir:
        typer.echo(f"best model: {summary.best_model_dir}")
    storage_flag = "" if summary.storage == _default_storage() else f" --storage {redact(summary.storage)}"
    typer.echo(f"look at it: hpsearch show {summary.study_name}{storage_flag}, or hpsearch dashboard{storage_flag}")


def _print_pareto(spec, front: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Pareto front: {len(front)} trials no other trial beats on every objective")
    table.add_column("trial")
    for objective in spec.objectives:
        table.add_column(f"{objective.name} ({objective.direction[:3]})", justify="right")
    names = sorted({name for _, _, params in front for name in params})
    for name in names:
        table.add_column(name, overflow="fold")
    for number, values, params in front:
        table.add_row(str(number), *(_short(v) for v in values), *(_short(params[n]) if n in params else "-"
                                                                     for n in names))
    Console().print(table)


def _print_configurations(spec, configurations: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if spec.fixed:
        console.print("fixed: " + ", ".join(f"{k}={v}" for k, v in spec.fixed.items()))
    console.print(spec.describe_priors())
    table = Table(title=f"{spec.study.name}: {len(configurations)} sampled configurations (dry run)")
    if len(spec.space) > 8:  # a wide space reads better one hyperparameter a row, one trial a column
        table.add_column("hyperparameter")
        for number in range(len(configurations)):
            table.add_column(f"trial {number}", overflow="fold")
        for name in spec.space:
            table.add_row(name, *(_short(values[name]) if name in values else "-" for values in configurations))
    else:
        table.add_column("trial")
        for name in spec.space:
            table.add_column(name, overflow="fold")
        for number, values in enumerate(configurations):
            table.add_row(str(number), *(_short(values[n]) if n in values else "-" for n in spec.space))
    console.print(table)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


from hpsearch.cli import results as cli_results  # noqa: E402,F401 - registers studies, show, best, compare, export, ...

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
