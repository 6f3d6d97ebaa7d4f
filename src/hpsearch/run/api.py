"""Running a study from Python: what `hpsearch.run` and `hpsearch.resume` call, and the CLI's run commands too.

Each validates like the CLI (an HpsearchError with the CLI's message, never a sys.exit), runs every trial in
its own worker process (hpsearch.run.study_loop), and returns the RunSummary the CLI prints. Progress goes to
stderr: a live panel on a terminal, plain lines elsewhere (a notebook's cell output, a log file).
"""

from __future__ import annotations

import os
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
    if isinstance(space, StudySpec):
        if set:
            raise TypeError("set= applies to a file; give the file's path, or load_space(path, overrides)")
        spec = space
    else:
        spec = load_space(space, list(set))
    spec = spec.with_budget(n_trials=n_trials, timeout=timeout, n_jobs=n_jobs, trials_per_gpu=trials_per_gpu)
    extra = [] if start_with is None else known.labelled_file(start_with, spec)
    return _start(spec, storage, force, gpus, progress, show_warnings=True, start_with=extra)


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
    shown = progress if isinstance(progress, Progress) else Progress(enabled=bool(progress))
    if show_warnings:
        for problem in spec.warnings:
            shown.note(f"{problem} [warning]")
    return run_study(spec, storage=storage, force=force, progress=shown, devices=gpus, start_with=start_with)
