"""The commands that run trials or move a study: run, resume, worker, copy.

Optuna, torch and transformers are imported inside them, so `hpsearch --help` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpsearch.cli.common import SetOption, StorageOption
from hpsearch.errors import UsageError
from hpsearch.spec.storage_url import default_storage

NTrialsOption = Annotated[int | None, typer.Option("--n-trials", help="Override study.n_trials for this run.")]
TimeoutOption = Annotated[str | None, typer.Option("--timeout", help="Override study.timeout (15m, 2h).")]
NJobsOption = Annotated[int | None, typer.Option("--n-jobs", help="Trials at once (override study.n_jobs).")]
GpusOption = Annotated[
    str | None,
    typer.Option("--gpus", metavar="0,1,...", help="GPUs to use, trials_per_gpu trials on each at a time "
                 "(default: every visible one; none: the CPU)."),
]
PerGpuOption = Annotated[
    int | None,
    typer.Option("--trials-per-gpu", help="Trials sharing each GPU at once (override study.trials_per_gpu)."),
]


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
    trials_per_gpu: PerGpuOption = None,
    start_with: Annotated[Path | None, typer.Option(
        "--start-with", metavar="BEST.json", help="Run the configurations of this file (hpsearch best NAME -f json) "
        "first, once.")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate", help="With --dry-run: time a few steps of one trial "
                                            "for the cost estimate.")] = False,
) -> None:
    """Run (or continue) the study a search-space file declares."""
    from hpsearch.run import api
    from hpsearch.run.progress import Progress

    if dry_run:
        planned = api.dry_run(file, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, storage=storage,
                              set=overrides or [], gpus=gpus, trials_per_gpu=trials_per_gpu, start_with=start_with,
                              calibrate=calibrate, progress=Progress())
        for line in planned.notes:
            typer.echo(line)
        _print_configurations(planned.spec, planned.configurations)
        for line in planned.estimate:
            typer.echo(line)
        return
    if calibrate:
        raise UsageError("--calibrate times trials for --dry-run's estimate; add --dry-run")
    _print_summary(api.run(file, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, storage=storage,
                           set=overrides or [], force=force, gpus=gpus, trials_per_gpu=trials_per_gpu,
                           start_with=start_with, progress=Progress()))


def resume(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    n_trials: NTrialsOption = None,
    timeout: TimeoutOption = None,
    n_jobs: NJobsOption = None,
    storage: StorageOption = None,
    gpus: GpusOption = None,
    trials_per_gpu: PerGpuOption = None,
) -> None:
    """Continue a study from what the database holds, without its YAML file."""
    _continue(name, storage, gpus, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, trials_per_gpu=trials_per_gpu)


def worker(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    storage: StorageOption = None,
    n_jobs: NJobsOption = None,
    timeout: TimeoutOption = None,
    gpus: GpusOption = None,
    trials_per_gpu: PerGpuOption = None,
) -> None:
    """Join a study from another machine: run its trials, from the space stored in the database, within its budget."""
    _continue(name, storage, gpus, timeout=timeout, n_jobs=n_jobs, trials_per_gpu=trials_per_gpu)


def _continue(name: str, storage: str | None, gpus: str | None, **budget) -> None:
    """Run study `name` from the spec its database holds (resume and worker); the stored spec is not changed."""
    from hpsearch.run import api
    from hpsearch.run.progress import Progress

    _print_summary(api.resume(name, storage=storage, gpus=gpus, progress=Progress(), **budget))


def copy(
    name: Annotated[str, typer.Argument(help="The study's name.")],
    source: Annotated[str, typer.Option("--from", help="The database URL that holds the study.")],
    destination: Annotated[str, typer.Option("--to", help="The database URL to copy it into.")],
) -> None:
    """Copy a study with all its trials to another database (kept models and other files stay where they are)."""
    from hpsearch.spec.storage_url import redact
    from hpsearch.store.studies import copy as copy_study

    count = copy_study(name, source, destination)
    typer.echo(f"copied study {name} ({count} trials) from {redact(source)} to {redact(destination)}; files "
               "(kept models, cached data) were not copied: they stay beside the source")
    typer.echo(f"continue it there: hpsearch worker {name} --storage {redact(destination)}")


def _print_summary(summary) -> None:
    from hpsearch.numbers import number
    from hpsearch.spec.storage_url import redact

    spec = summary.spec
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
        typer.echo(f"best {spec.metric}: {number(summary.best_value, places=4)} with {values}")
        if len(summary.best_metrics) > 1:
            typer.echo("  its metrics: " + ", ".join(f"{k}={number(v, places=4)}"
                                                     for k, v in summary.best_metrics.items()))
    elif spec.study.constraints and summary.infeasible:
        typer.echo("no trial meets the constraints yet")
    if summary.pareto:
        _print_pareto(spec, summary.pareto)
    if summary.best_model_dir:
        typer.echo(f"best model: {summary.best_model_dir}")
    storage_flag = "" if summary.storage == default_storage() else f" --storage {redact(summary.storage)}"
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
    count = (f"{len(configurations)}" if len(configurations) == spec.study.n_trials
             else f"the first {len(configurations)} of {spec.study.n_trials}")
    table = Table(title=f"{spec.study.name}: {count} sampled configurations (dry run)")
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
