"""The commands that look at stored studies: studies, show, best, compare, export, report, dashboard, confirm.

Each opens the database without creating it (confirm records its runs, so it opens it for writing), calls
one function of results / report / dashboard, and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpsearch.cli.common import StorageOption
from hpsearch.errors import UsageError
from hpsearch.numbers import number
from hpsearch.spec.storage_url import default_storage

NameArgument = Annotated[str, typer.Argument(help="The study's name (hpsearch studies lists them).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace output files that exist (never the database).")]


def _tables(storage: str | None):
    from hpsearch.store.tables import Tables

    return Tables.open(storage or default_storage())


def _console():
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def studies(storage: StorageOption = None) -> None:
    """Every study in the database: task, model, trial states, best value, last activity."""
    from rich.table import Table

    from hpsearch.results import summary as results

    found = results.list_studies(_tables(storage))
    table = Table(title=f"{len(found)} studies")
    for column in ("study", "task", "model", "objective", "complete", "pruned", "failed", "running", "best",
                   "last activity"):
        table.add_column(column, overflow="fold")
    for row in found:
        states = row.states
        table.add_row(row.name, number(row.task, missing="-"), number(row.model, missing="-"),
                      ", ".join(f"{o} ({d[:3]})" for o, d in zip(row.objectives, row.directions, strict=False)),
                      str(states.get("COMPLETE", 0)), str(states.get("PRUNED", 0)), str(states.get("FAIL", 0)),
                      str(states.get("RUNNING", 0) + states.get("WAITING", 0)),
                      ", ".join(number(v, missing="-") for v in row.best) if row.best else "-",
                      row.last_activity.strftime("%Y-%m-%d %H:%M") if row.last_activity else "-")
    _console().print(table)


def show(
    name: NameArgument,
    storage: StorageOption = None,
    top: Annotated[int, typer.Option("--top", help="How many of the best trials to list.")] = 10,
) -> None:
    """A study's space, budget, progress, its best trials, and ranges its best trials crowd."""
    from rich.table import Table

    from hpsearch.results import load as loading
    from hpsearch.results import summary as results
    from hpsearch.store.stored_trial import StoredTrial

    if top < 1:
        raise UsageError(f"--top must be at least 1, but got {top}")
    stored = loading.load(name, storage)
    study, spec, states = stored.study, stored.spec, stored.states()
    console = _console()
    goal = ", ".join(f"{o.name} ({o.direction})" for o in spec.objectives)
    console.print(f"study {name}: {spec.task.type} on {spec.task.model}; optimizing {goal}")
    console.print(f"budget: {spec.study.n_trials} finished trials; sampler {spec.study.sampler.get('name')}, "
                  f"pruner {spec.study.pruner.get('name')}")
    console.print("trials: " + (", ".join(f"{k.lower()} {v}" for k, v in states.items()) or "none"))
    console.print(stored.cost_line())
    console.print("space: " + ", ".join(f"{n} {e.describe()}" for n, e in spec.space.items()))
    console.print(spec.describe_priors())
    if warm := results.warm_start_line(study):
        console.print(warm)
    if spec.fixed:
        console.print("fixed: " + ", ".join(f"{k}={v}" for k, v in spec.fixed.items()))
    if known := stored.started_with():
        console.print("known configurations run first: " + ", ".join(
            f"trial {t.number} ({t.user_attrs['start_with']}, {t.state.name.lower()})" for t in known))
    leaders = stored.best_trials() if spec.multi_objective else stored.ranked()[:top]
    table = Table(title="Pareto front" if spec.multi_objective else f"the {len(leaders)} best trials")
    table.add_column("trial")
    for objective in spec.objectives:
        table.add_column(objective.name, justify="right")
    names = list(spec.space)
    for column in names + ["stop", "train s"]:
        table.add_column(column, overflow="fold")
    for trial in leaders:
        stored = StoredTrial(trial)
        flag = "" if stored.feasible else " (infeasible)"
        flag += f" ({stored.start_with})" if stored.start_with else ""
        table.add_row(f"{trial.number}{flag}", *(number(v, missing="-") for v in trial.values),
                      *(number(trial.params.get(n), missing="-") for n in names),
                      number(stored.stop_reason, missing="-"), number(stored.train_seconds, missing="-"))
    console.print(table)
    for boundary in results.boundaries(study):
        console.print(f"warning: {boundary}")


def best(
    name: NameArgument,
    storage: StorageOption = None,
    format: Annotated[str, typer.Option(
        "--format", "-f", help="yaml, json, or args (TrainingArguments; a sft study's SFTConfig).")] = "yaml",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    force: ForceOption = False,
) -> None:
    """The best trial's values (every value the trial used), or the Pareto front with several objectives."""
    from hpsearch.results import load as loading
    from hpsearch.results.outputs import check_file

    if format not in ("yaml", "json", "args"):
        raise UsageError(f"--format must be yaml, json or args, but got {format!r}")
    if output is not None:
        check_file(output, storage or default_storage(), force)
    text, others = loading.best_as(name, storage, format)
    if others:
        typer.echo("not TrainingArguments fields (apply them to the model, data and loss): "
                   + ", ".join(f"{k}={v}" for k, v in others.items()), err=True)
    if output is not None:
        try:
            output.write_text(text)
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
        typer.echo(f"wrote {output}")
    else:
        typer.echo(text, nl=False)


def compare(
    names: Annotated[list[str], typer.Argument(help="Two or more study names.")],
    storage: StorageOption = None,
) -> None:
    """Studies side by side: best value, trials, compute spent and saved by pruning, what mattered."""
    from rich.table import Table

    from hpsearch.results import summary as results

    found = results.compare(_tables(storage), names)
    table = Table(title="studies compared")
    table.add_column("")
    for row in found:
        table.add_column(row.name, overflow="fold")

    def line(label: str, cells) -> None:
        table.add_row(label, *cells)

    line("objective", [", ".join(f"{o} ({d[:3]})" for o, d in zip(r.objectives, r.directions, strict=False))
                       for r in found])
    line("best", [", ".join(number(v, missing="-") for v in r.best) if r.best else "-" for r in found])
    for state in ("COMPLETE", "PRUNED", "FAIL"):
        line(state.lower(), [str(r.states.get(state, 0)) for r in found])
    line("train seconds", [number(r.compute.train_seconds, places=1) for r in found])
    line("samples seen", [str(r.compute.samples) for r in found])
    line("saved by pruning", [f"~{number(r.compute.saved_seconds, places=1)} s, {r.compute.saved_samples} samples"
                              for r in found])
    line("best values", ["\n".join(f"{k}={number(v, missing='-')}" for k, v in r.best_params.items()) or "-"
                         for r in found])
    line("importance", ["\n".join(f"{k} {v:.2f}" for k, v in r.importances.items()) or r.importance_note
                        for r in found])
    _console().print(table)


def export(
    name: NameArgument,
    storage: StorageOption = None,
    format: Annotated[str, typer.Option("--format", "-f", help="csv, json or parquet.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The file (default NAME.FORMAT).")] = None,
    force: ForceOption = False,
) -> None:
    """One row per trial: values, state, parameters, metrics and the recorded attributes."""
    from hpsearch.results.export import write_trials
    from hpsearch.results.load import open_study
    from hpsearch.results.outputs import check_file

    if format not in ("csv", "json", "parquet"):
        raise UsageError(f"--format must be csv, json or parquet, but got {format!r}")
    path = check_file(output or Path(f"{name}.{format}"), storage or default_storage(), force)
    study = open_study(name, storage)
    count = write_trials(study, format, path)
    typer.echo(f"wrote {count} trials to {path}")


def report(
    name: NameArgument,
    storage: StorageOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The HTML file (default NAME.html).")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also write each figure as a PNG into this folder.")]
    = None,
    force: ForceOption = False,
) -> None:
    """One self-contained HTML file of a study's figures (history, curves, coordinates, importances)."""
    from hpsearch.results import report as reports
    from hpsearch.results.load import open_study
    from hpsearch.results.outputs import check_file, check_folder

    url = storage or default_storage()
    path = check_file(output or Path(f"{name}.html"), url, force)
    study = open_study(name, storage)
    if png is not None:  # every file is checked before the first is written
        check_folder(png, reports.png_files(study, png), url, force)
    reports.write_html(study, path)
    typer.echo(f"wrote {path}")
    if png is not None:
        for written in reports.write_png(study, png):
            typer.echo(f"wrote {written}")


def dashboard(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
) -> None:
    """Serve optuna-dashboard on the study database and its artifacts; Ctrl-C stops it."""
    from hpsearch.results import dashboard as board

    board.serve(storage or default_storage(), host, port)


def confirm(
    name: NameArgument,
    storage: StorageOption = None,
    top: Annotated[int, typer.Option("--top", help="How many of the best configurations to re-run.")] = 3,
    seeds: Annotated[int, typer.Option("--seeds", help="Other seeds to train each one under.")] = 3,
) -> None:
    """Re-run the best configurations under other seeds and name the one that wins beyond the noise."""
    from rich.table import Table

    from hpsearch.results.load import load
    from hpsearch.run import confirm as confirming

    try:
        stored = load(name, storage, read_only=False)  # confirm records its runs in the study
        spec = stored.spec
        verdict = confirming.confirm(stored.study, spec, top, seeds, progress=lambda line: typer.echo(line, err=True))
    except KeyboardInterrupt:
        typer.echo(f"interrupted; the finished runs are recorded, and hpsearch confirm {name} goes on from them",
                   err=True)
        raise typer.Exit(130) from None
    table = Table(title=f"{name}: the top {len(verdict.confirmed)} configurations under {seeds + 1} seeds")
    for column in ("trial", f"mean {spec.metric}", "spread (sd)", "runs"):
        table.add_column(column)
    for item in verdict.confirmed:
        table.add_row(str(item.number), number(item.mean, places=4), number(item.spread, places=4),
                      ", ".join(number(v, places=4) for v in item.values.values()))
    _console().print(table)
    first, second = verdict.confirmed[0], verdict.confirmed[1]
    if verdict.winner is not None:
        typer.echo(f"trial {verdict.winner} wins beyond the noise (Welch's t-test against trial {second.number}: "
                   f"p = {verdict.p_value:.3f})")
    else:
        detail = f"p = {verdict.p_value:.2f}" if verdict.p_value is not None else "; ".join(verdict.notes)
        typer.echo(f"no configuration wins beyond the noise: trials {first.number} and {second.number} are within "
                   f"it ({detail}); either will do, or run more seeds (--seeds)")
