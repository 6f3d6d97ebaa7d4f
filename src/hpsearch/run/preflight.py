"""What is checked before a study is touched: the task trains, the GPUs suit the precisions, the data and
the model are there and fit the space. Each problem is the user's to fix, so it is said, each on its line,
before a study is created or a trial is started."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from hpsearch.errors import SpaceError, StudyError
from hpsearch.run import gpus, libraries, protocol
from hpsearch.run.keeping import ATTR_BEST_MODEL_DIR
from hpsearch.run.progress import Progress
from hpsearch.spec import trackers
from hpsearch.spec.space import StudySpec
from hpsearch.spec.storage_url import redact
from hpsearch.spec.tasks import TASKS
from hpsearch.store import studies
from hpsearch.store.database import check_url
from hpsearch.train import shared
from hpsearch.train.data import check_source
from hpsearch.train.process import check_custom_entry, check_model_config
from hpsearch.train.tasks.base import resolve_model


@dataclass
class Plan:
    """A study ready to run: its spec (task.from_study resolved), its storage URL, its trial slots."""

    spec: StudySpec
    url: str
    slots: list[dict[str, Any]]  # one per concurrent trial: its threads, its GPU and share of it


def check(spec: StudySpec, storage: str | None, devices: str | None, progress: Progress,
          preloaded: bool = True) -> Plan:
    """Refuse a study that cannot run, before its database is touched; where and how its trials will run. Trials
    that fork from the study process, not the fork server (`preloaded`: hpsearch.run.targets), load no model or
    entry: none is checked."""
    if TASKS[spec.task.type].module is None:
        raise StudyError(f"task.type {spec.task.type} is declared but cannot train yet (use sequence-classification)")
    trackers.check_installed(spec)  # a stored spec too: `resume` on a machine without the tracker
    chosen = gpus.choose(devices)
    gpus.check_precision(_precisions(spec), chosen)
    slots = gpus.plan(spec.study, chosen)
    custom = TASKS[spec.task.type].custom
    problems, notes = ([], []) if custom else check_source(spec.task.dataset, spec.base_dir, spec.task.type)
    if problems:
        raise SpaceError([spec.problem(path, message) for path, message in problems])
    for path, message in notes:
        progress.note(f"{spec.problem(path, message)} [warning]")
    url = spec.storage_url(storage)
    check_url(url)  # a storage that cannot hold the study is refused before the trials' fork server starts
    if spec.task.from_study:
        spec = _with_model_of(spec, spec.task.from_study, url)
    if custom and preloaded:
        check_entry(spec)
    elif preloaded:
        resolve_model(None, spec.task.model, spec.base_dir)
        with shared.offered(spec), libraries.offered(spec):  # a fork server started now builds what trials share
            _in_worker(check_model_config, spec, "cannot read the model's configuration", progress)
    if devices_line := gpus.describe(slots, chosen, spec.study.trials_per_gpu):
        progress.note(devices_line)
    return Plan(spec, url, slots)


def _precisions(spec: StudySpec) -> set[str]:
    """Every precision the study's trials may train in."""
    entry = spec.space.get("precision")
    return set(entry.choices) if entry is not None else {spec.fixed.get("precision", "fp32")}


def _with_model_of(spec: StudySpec, name: str, url: str) -> StudySpec:
    """`spec` with task.model set to the kept model of study `name`'s best trial (same database)."""
    try:
        earlier = optuna.load_study(study_name=name, storage=studies.storage_for(url, read_only=True))
    except KeyError:
        raise StudyError(f"task.from_study: no study {name!r} in {redact(url)} (run it first)") from None
    folder = earlier.user_attrs.get(ATTR_BEST_MODEL_DIR)
    if not folder or not Path(folder).exists():
        raise StudyError(f"task.from_study: study {name!r} kept no model (it needs a complete trial and "
                         "study.save: best or all)")
    return replace(spec, task=spec.task.model_copy(update={"model": folder}))


def check_entry(spec: StudySpec) -> None:
    """A custom task's training function must import and take (config, reporter): SpaceError at task.entry's line
    otherwise. Imported in a worker process, so nothing of the user's code runs in the study process."""
    if TASKS[spec.task.type].custom:
        _in_worker(check_custom_entry, spec, "cannot check task.entry")


def _in_worker(target, spec: StudySpec, failing: str, progress: Progress | None = None) -> None:
    """Refuse a space with the problems `target` finds in a worker process (for a model: its knobs the model
    lacks), before any study is touched, and say its warnings; the worker also starts the fork server that the
    trials will need."""
    try:
        worker = protocol.spawn(target, spec, name="check-" + target.__name__)
    except (EOFError, OSError) as exc:  # the fork server died as it started (out of memory?)
        raise StudyError(f"{failing}: the process that starts trials failed to start one "
                         f"({type(exc).__name__}: {exc or 'it ended'}; out of memory?)") from None
    try:
        message = worker.conn.recv()
    except (EOFError, OSError):
        message = (protocol.ERROR, protocol.death_reason(worker.process))
    finally:
        worker.process.join(timeout=10)
    if message[0] == protocol.ERROR:
        raise StudyError(f"{failing}: {message[1]}")
    errors = [p for p in message[1] or [] if not p.warning]
    if errors:
        raise SpaceError(errors)
    for problem in message[1] or []:
        if progress is not None:
            progress.note(f"{problem} [warning]")
