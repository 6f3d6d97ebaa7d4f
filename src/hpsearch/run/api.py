"""Running a study from Python: what `hpsearch.run`, `hpsearch.dry_run` and `hpsearch.resume` call, and the CLI's
run commands too.

Each validates like the CLI (an HpsearchError with the CLI's message, never a sys.exit), runs every trial in
its own worker process (hpsearch.run.study_loop), and returns the RunSummary the CLI prints. Progress goes to
stderr: a live panel on a terminal, plain lines elsewhere (a notebook's cell output, a log file). `dry_run`
trains and stores nothing: it returns the configurations a run would try first and its cost estimate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from hpsearch.run.progress import Progress
from hpsearch.run.run_summary import RunSummary
from hpsearch.run.study_loop import run_study
from hpsearch.spec import start_with as known
from hpsearch.spec.space import StudySpec, load_space
from hpsearch.spec.storage_url import default_storage
from hpsearch.store.stored_spec import load_stored_spec
from hpsearch.store.studies import storage_for


def run(space: str | os.PathLike | StudySpec, *, n_trials: int | None = None, timeout: Any = None,
        n_jobs: int | None = None, storage: str | None = None, set: list[str] | tuple[str, ...] = (),  # noqa: A002
        force: bool = False, gpus: str | None = None, trials_per_gpu: int | None = None,
        start_with: str | os.PathLike | None = None, progress: bool | Progress = True) -> RunSummary:
    """Run (or continue) the study a search-space file declares; what `hpsearch run FILE` does.

    Args:
        space: the search-space file (or a StudySpec from `load_space` / `load_text`).
        n_trials, timeout, n_jobs: override the file's budget for this run (as --n-trials, --timeout, --n-jobs).
        storage: the database URL (as --storage); else $HPSEARCH_STORAGE, the file's study.storage, the default.
        set: `KEY.PATH=VALUE` overrides of the file (as --set).
        force: continue a study whose stored space differs (as --force).
        gpus: "0,1" or "none" (as --gpus); by default every visible GPU.
        trials_per_gpu: trials sharing each GPU at once (as --trials-per-gpu).
        start_with: a file `hpsearch best NAME -f json` wrote: its values run first, once (as --start-with).
        progress: show progress on stderr (True), stay quiet (False), or a Progress of your own.

    Returns:
        The RunSummary: trials finished and run, their states, the best value and its trial, values and model.

    Raises:
        SpaceError: the file is invalid (each problem with its file and line); other HpsearchErrors as the CLI
        reports them (Interrupted on Ctrl-C: the interrupted trial runs again on the next call).
    """
    spec = _budgeted(space, set, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, trials_per_gpu=trials_per_gpu)
    extra = [] if start_with is None else known.labelled_file(start_with, spec)
    return _start(spec, storage, force, gpus, progress, show_warnings=True, start_with=extra)


DRY_RUN_SHOWN = 10  # configurations a dry run samples (the known ones are all shown): a look, not the study


@dataclass
class DryRun:
    """What a run of `spec` would do, without training or storing anything; what `hpsearch run --dry-run` prints."""

    spec: StudySpec
    configurations: list[dict[str, Any]]  # the first ones a run would try, known configurations first
    estimate: list[str]  # the cost estimate, one line each
    notes: list[str] = field(default_factory=list)  # what study.warm_start's sources gave


def dry_run(space: str | os.PathLike | StudySpec, *, n_trials: int | None = None, timeout: Any = None,
            n_jobs: int | None = None, storage: str | None = None, set: list[str] | tuple[str, ...] = (),  # noqa: A002
            gpus: str | None = None, trials_per_gpu: int | None = None, start_with: str | os.PathLike | None = None,
            calibrate: bool = False, progress: bool | Progress = True) -> DryRun:
    """The configurations `run(space, ...)` would try first, and its cost estimate; nothing is trained or stored.

    Takes `run`'s arguments; `calibrate` times a few steps of one trial (in a worker, as a run would) for the
    estimate instead of reading earlier trials of the same model. The spec's warnings go to `progress` (stderr).
    """
    from hpsearch.run import estimate
    from hpsearch.run.preflight import check_entry
    from hpsearch.spec.suggest import sample

    spec = _budgeted(space, set, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, trials_per_gpu=trials_per_gpu)
    shown = _progress(progress)
    for problem in spec.warnings:
        shown.note(f"{problem} [warning]")
    check_entry(spec)  # a custom task's function imports and takes (config, reporter), as a run checks
    extra = [] if start_with is None else known.labelled_file(start_with, spec)
    first = [values for _, values in known.labelled(spec) + extra]
    notes, earlier = [], []
    if spec.study.warm_start is not None:  # read only; a bad source fails as the run would
        from hpsearch.store import history

        found = history.read(spec, spec.storage_url(storage))
        notes, earlier = found.notes, found.trials
    count = min(spec.study.n_trials, max(DRY_RUN_SHOWN, len(first)))  # a look, not the study: in a second
    configurations = sample(spec, count, first, history=earlier)
    if calibrate:
        pace = estimate.calibrate(spec, storage, gpus, Progress(enabled=False))
    else:
        pace = estimate.from_database(spec, spec.storage_url(storage))
    return DryRun(spec, configurations, estimate.describe(estimate.estimate(spec, pace)), list(notes))


def resume(name: str, *, storage: str | None = None, n_trials: int | None = None, timeout: Any = None,
           n_jobs: int | None = None, gpus: str | None = None, trials_per_gpu: int | None = None,
           progress: bool | Progress = True) -> RunSummary:
    """Continue study `name` from the space its database holds; what `hpsearch resume NAME` does."""
    url = storage or default_storage()
    spec = load_stored_spec(name, storage_for(url, read_only=True))
    spec = spec.with_budget(n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, trials_per_gpu=trials_per_gpu)
    return _start(spec, url, False, gpus, progress, show_warnings=False)


def _start(spec: StudySpec, storage: str | None, force: bool, gpus: str | None, progress: bool | Progress,
           show_warnings: bool, start_with: list[tuple[str, dict]] = ()) -> RunSummary:
    shown = _progress(progress)
    if show_warnings:
        for problem in spec.warnings:
            shown.note(f"{problem} [warning]")
    return run_study(spec, storage=storage, force=force, progress=shown, devices=gpus, start_with=start_with)


def _progress(progress: bool | Progress) -> Progress:
    return progress if isinstance(progress, Progress) else Progress(enabled=bool(progress))


def _budgeted(space: str | os.PathLike | StudySpec, overrides, **budget) -> StudySpec:
    """The spec of `space` (a file, with its `--set` overrides, or a StudySpec) under this run's budget."""
    if isinstance(space, StudySpec):
        if overrides:
            raise TypeError("set= applies to a file; give the file's path, or load_space(path, overrides)")
        return space.with_budget(**budget)
    return load_space(space, list(overrides)).with_budget(**budget)
