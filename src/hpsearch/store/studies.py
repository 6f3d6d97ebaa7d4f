"""Studies in storage: open the database, create or load a study, keep its space, recover its trials.

A study stores the full text of its space file, so `hpsearch resume NAME` needs only the database, and
a second run with a different space is refused (budget keys aside) unless forced. Before each run,
trials left RUNNING by a process of this host that no longer exists are failed, and every trial that
failed only because it was interrupted gets its values queued again: nothing complete is re-run.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import SQLAlchemyError

from hpsearch import __version__
from hpsearch.errors import SpaceError, StorageError, StudyError
from hpsearch.spec import reader
from hpsearch.spec.space import StudySpec, load_text
from hpsearch.spec.storage_url import redact
from hpsearch.store.database import (
    connect_kwargs,
    creation_race,
    database_key,
    open_error,
    sqlite_path,
    storage_problem,
)

ATTR_SPEC = "hpsearch:spec"
ATTR_OVERRIDES = "hpsearch:overrides"  # the run's --set assignments, applied over the stored text
ATTR_BASE_DIR = "hpsearch:base_dir"
ATTR_OWNER = "hpsearch:owner"  # on a trial: {"host", "pid", "started"} of the process that drives it
ATTR_RERUN = "hpsearch:rerun"  # on a failed trial: its values must run again (it was interrupted)
ATTR_RETRY_OF = "hpsearch:retry_of"  # on a queued trial: the number of the trial it re-runs
ATTR_REASON = "fail_reason"
ATTR_STALE = "hpsearch:stale"  # on a queued trial: why the trial it re-runs failed (its heartbeat went stale)
BUDGET_KEYS = ("n_trials", "timeout", "storage", "n_jobs", "trial_timeout")  # may change between runs of one study
UNOWNED_GRACE_S = 300  # a RUNNING trial without an owner record is failed only after this long ...
UNCLAIMED_GRACE_SQLITE_S = 5  # ... or this long on SQLite, where every writer is on this machine
HEARTBEAT_INTERVAL_S = 30  # running trials beat this often ...
HEARTBEAT_GRACE_S = 120  # ... and one silent this long is failed by any worker and its values re-run once
SPEC_WAIT_S = 10  # machines started together: the one that creates the study stores its space within this
CREATE_ATTEMPTS = 5  # opening a database that processes started together are creating at once
HEARTBEAT_ENV = "HPSEARCH_HEARTBEAT"  # "INTERVAL,GRACE" in seconds, e.g. "1,4" in tests; the default above


def storage_for(url: str, create: bool = True, read_only: bool = False) -> optuna.storages.RDBStorage:
    """Open the database at `url` (creating it unless `create` is False); SQLite gets WAL and a busy timeout.

    `read_only` (for the commands that only look): the database is never changed, not even switched to WAL.
    """
    create = create and not read_only
    engine_kwargs = connect_kwargs(url, create, read_only)
    interval, grace = heartbeat_settings()
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat arguments
                    storage = optuna.storages.RDBStorage(
                        url, engine_kwargs=engine_kwargs, heartbeat_interval=interval,
                        skip_table_creation=not create,  # a database only read is never altered
                        grace_period=grace,
                        heartbeat_stale_trial_callback=RetryStaleTrial(grace))
                break
            except DATABASE_ERRORS as exc:  # processes started together race to create the tables: one wins
                if attempt == CREATE_ATTEMPTS - 1 or not create or not creation_race(exc):
                    raise
                time.sleep(0.5 * (attempt + 1))  # the winner has finished by then: the tables are read, not made
    except Exception as exc:  # noqa: BLE001 - sqlalchemy's errors, Optuna's schema check: all one message
        raise open_error(url, exc, reading=not create) from None
    if url.startswith("sqlite") and not read_only:
        try:
            with storage.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot use storage {redact(url)!r}: {storage_problem(exc)}") from None
    return storage


class RetryStaleTrial(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry (once) of a trial whose heartbeat went stale; the retry records why it runs.

    Optuna calls this after the trial is FAIL, when it can no longer be written: the reason goes on the retry.
    """

    def __init__(self, grace: int):
        super().__init__(max_retry=1)
        self.grace = grace

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        owner = trial.user_attrs.get(ATTR_OWNER) or {}
        trial.user_attrs[ATTR_STALE] = (f"trial {trial.number} failed: its machine ({owner.get('host', 'unknown')}) "
                                        f"sent no heartbeat for {self.grace} s")
        super().__call__(study, trial)  # the queued copy takes `trial`'s user attributes


def heartbeat_settings() -> tuple[int, int]:
    """The heartbeat's interval and grace period in seconds: $HPSEARCH_HEARTBEAT ("30,120"), else the defaults."""
    text = os.environ.get(HEARTBEAT_ENV)
    if not text:
        return HEARTBEAT_INTERVAL_S, HEARTBEAT_GRACE_S
    try:
        interval, grace = (int(part) for part in text.split(","))
    except ValueError:
        interval = grace = 0
    if not 0 < interval < grace:
        raise StudyError(f"${HEARTBEAT_ENV} must be INTERVAL,GRACE in whole seconds with the interval below the "
                         f"grace, such as {HEARTBEAT_INTERVAL_S},{HEARTBEAT_GRACE_S}, but got {text!r}")
    return interval, grace


DATABASE_ERRORS = (SQLAlchemyError, optuna.exceptions.StorageInternalError)


def files_root(url: str) -> Path:
    """The folder for a database's files: beside an SQLite file, else ./studies."""
    return sqlite_path(url).parent if url.startswith("sqlite") else Path("studies")


def artifacts_dir(url: str, study_name: str) -> Path:
    """Where a study's kept models live: under its database's own folder, so a study of the same name in
    another database (a second file in one folder, a copy) never writes or cleans up the same folders.

    Studies run before this layout recorded their models' paths (`model_dir`, `best_model_dir`) directly,
    in `<files root>/<study>`; those stay where they are, and nothing there is cleaned up.
    """
    return files_root(url) / database_key(url) / study_name


def cache_dir(url: str) -> Path:
    """Where tokenized data is cached across trials and runs."""
    return files_root(url) / ".cache"


def canonical(document: reader.Document) -> dict:
    """The space's content (--set overrides applied) without comments, layout, or the keys a run may change."""
    data = document.data or {}
    study = {k: v for k, v in (data.get("study") or {}).items() if k not in BUDGET_KEYS}
    return json.loads(json.dumps({**data, "study": study}, sort_keys=True, default=str))


def open_study(spec: StudySpec, storage: optuna.storages.BaseStorage, force: bool = False) -> optuna.Study:
    """Create the study `spec` names, or load it and check that its space is the same."""
    name = spec.study.name
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=spec.sampler(), pruner=spec.pruner())
    except KeyError:
        try:
            study = optuna.create_study(study_name=name, storage=storage, sampler=spec.sampler(),
                                        pruner=spec.pruner(), directions=[o.direction for o in spec.objectives])
        except optuna.exceptions.DuplicatedStudyError:  # another machine created it a moment ago: join it
            return open_study(spec, storage, force)
        _store_spec(study, spec)
        return study
    stored = _stored_spec_text(study)
    if stored is None:
        raise StudyError(f"study {name!r} exists but was not made by hpsearch (choose another study.name)")
    stored_overrides = study.user_attrs.get(ATTR_OVERRIDES, [])
    if not isinstance(stored, str) or not isinstance(stored_overrides, list) \
            or not all(isinstance(o, str) for o in stored_overrides):
        raise StorageError(f"study {name!r}: its stored space ({ATTR_SPEC}) is unreadable: it is not the text of a "
                           "space file (was the database edited by hand?)")
    stored, stored_overrides = _hide_passwords(study, stored, stored_overrides)
    stored_directions = [d.name.lower() for d in study.directions]
    if stored_directions != [o.direction for o in spec.objectives]:
        raise StudyError(f"study {name!r} has the directions {stored_directions}; this file asks for "
                         f"{[o.direction for o in spec.objectives]} (choose another study.name)")
    text, overrides = stored_form(spec)
    ours = spec.document if (text, overrides) == (spec.text, list(spec.overrides)) else reader.parse(text, overrides)
    if canonical(reader.parse(stored, stored_overrides)) != canonical(ours):
        if not force:
            before = stored.splitlines() + [f"--set {o}" for o in stored_overrides]
            after = text.splitlines() + [f"--set {o}" for o in overrides]
            diff = "\n".join(difflib.unified_diff(before, after, "stored", "this file", lineterm="", n=1))
            raise StudyError(f"study {name!r} was made with a different space; rerun with --force to continue it "
                             f"with this one, or choose another study.name. The difference:\n{diff}")
        _store_spec(study, spec)
    return study


def _stored_spec_text(study: optuna.Study) -> str | None:
    """The study's stored space; for a study another machine has only just created, wait for it a moment."""
    deadline = time.monotonic() + SPEC_WAIT_S
    while (text := study.user_attrs.get(ATTR_SPEC)) is None and time.monotonic() < deadline \
            and not study.get_trials(deepcopy=False):
        time.sleep(0.5)
    return text


def stored_form(spec: StudySpec) -> tuple[str, list[str]]:
    """The space's text and its --set overrides as the study stores them: every password masked."""
    text = spec.text
    if spec.study.storage and redact(spec.study.storage) != spec.study.storage:
        text = text.replace(spec.study.storage, redact(spec.study.storage))  # even a form `redact` cannot spot
    overrides = []
    for override in spec.overrides:
        key, sep, value = override.partition("=")
        overrides.append(f"{key}{sep}{redact(value)}")  # the value alone: one URL, whatever its password holds
    return redact(text), overrides


def _hide_passwords(study: optuna.Study, text: str, overrides: list[str]) -> tuple[str, list[str]]:
    """The stored space and overrides with every password masked, rewritten so where an older hpsearch stored one."""
    hidden = redact(text), [f"{k}{sep}{redact(v)}" for k, sep, v in (o.partition("=") for o in overrides)]
    if hidden != (text, overrides):
        study.set_user_attr(ATTR_SPEC, hidden[0])
        study.set_user_attr(ATTR_OVERRIDES, hidden[1])
    return hidden


def _store_spec(study: optuna.Study, spec: StudySpec) -> None:
    text, overrides = stored_form(spec)
    study.set_user_attr(ATTR_SPEC, text)
    study.set_user_attr(ATTR_OVERRIDES, overrides)
    study.set_user_attr("hpsearch:sha256", spec.sha256)
    study.set_user_attr(ATTR_BASE_DIR, str(Path(spec.base_dir).resolve()))
    study.set_user_attr("hpsearch:version", __version__)
    study.set_user_attr("task", spec.task.type)
    study.set_user_attr("model", spec.task.model)
    study.set_user_attr("metric", spec.metric)
    study.set_user_attr("objectives", [o.name for o in spec.objectives])
    with warnings.catch_warnings():  # set_metric_names is marked experimental; the dashboard reads it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in spec.objectives])


def load_stored_spec(name: str, storage: optuna.storages.BaseStorage) -> StudySpec:
    """The spec a study was made with, read back from the database."""
    try:
        summary = next(s for s in optuna.get_all_study_summaries(storage) if s.study_name == name)
    except StopIteration:
        known = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StudyError(f"no study {name!r} in this database (it has: {', '.join(known) or 'none'})") from None
    attrs = summary.user_attrs
    text = attrs.get(ATTR_SPEC)
    if text is None:
        raise StudyError(f"study {name!r} was not made by hpsearch, so its space is unknown")
    unreadable = f"study {name!r}: its stored space ({ATTR_SPEC}) is unreadable: "
    overrides, base_dir = attrs.get(ATTR_OVERRIDES, []), attrs.get(ATTR_BASE_DIR, ".")
    if not isinstance(text, str) or not isinstance(base_dir, str) or not isinstance(overrides, list) \
            or not all(isinstance(o, str) for o in overrides):
        raise StorageError(unreadable + "it is not the text of a space file (was the database edited by hand?)")
    try:
        return load_text(text, file=f"{name} (stored)", base_dir=base_dir, overrides=overrides)
    except SpaceError as exc:  # edited by hand, or written by an hpsearch that allowed what this one refuses
        more = f" (and {len(exc.problems) - 1} more problems)" if len(exc.problems) > 1 else ""
        raise StorageError(unreadable + str(exc.problems[0]) + more) from None


# -- ownership and recovery -----------------------------------------------------------------------
def owner_record() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _process_start(os.getpid())}


def _process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (guards against a reused pid), where /proc tells it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_alive(owner: dict[str, Any]) -> bool:
    pid = owner.get("pid")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (TypeError, OverflowError):
        return False
    started = owner.get("started")
    return started is None or started == _process_start(pid)


def set_user_attrs(study: optuna.Study, trial_id: int, attrs: dict[str, Any]) -> None:
    """Record several user attributes on a trial in one transaction where the database allows (one commit
    instead of one per key: a trial's result is about fifteen of them), else one by one."""
    storage = getattr(study._storage, "_backend", study._storage)  # through Optuna's cache, to the database
    if not isinstance(storage, optuna.storages.RDBStorage) or not hasattr(storage, "_set_trial_attr_without_commit"):
        for key, value in attrs.items():
            study._storage.set_trial_user_attr(trial_id, key, value)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(storage.scoped_session, True) as session:
        for key, value in attrs.items():
            storage._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, key, value)


def fail_trial(study: optuna.Study, trial: FrozenTrial | optuna.Trial, reason: str, rerun: bool) -> None:
    """Record why a trial failed and mark it FAIL; `rerun` queues its values for the next run."""
    trial_id = trial._trial_id
    study._storage.set_trial_user_attr(trial_id, ATTR_REASON, reason)
    if rerun:
        study._storage.set_trial_user_attr(trial_id, ATTR_RERUN, True)
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def intended_values(trial: FrozenTrial) -> dict[str, Any]:
    """The values a trial was to run with: those it sampled, or those queued for it before it could."""
    return {**trial.system_attrs.get("fixed_params", {}), **trial.params}


def unclaimed_grace(study: optuna.Study) -> float:
    """How old a RUNNING trial without an owner must be before it counts as abandoned.

    A trial is claimed in the moment after it is asked for; a kill in that moment leaves it unowned.
    On SQLite every writer is on this machine and claims within milliseconds, so seconds suffice;
    on a server database another machine may be slow, so wait minutes.
    """
    url = str(getattr(study._storage, "url", ""))
    return UNCLAIMED_GRACE_SQLITE_S if url.startswith("sqlite") else UNOWNED_GRACE_S


def recover(study: optuna.Study) -> list[str]:
    """Fail this host's orphaned trials and queue the values of every interrupted one; say what was done."""
    notes = []
    host = socket.gethostname()
    grace = unclaimed_grace(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(ATTR_OWNER)
        if owner and owner.get("host") == host and not owner_alive(owner):
            fail_trial(study, trial, f"interrupted: the process that ran it (pid {owner.get('pid')}) is gone", True)
            notes.append(f"trial {trial.number} was left running by a process that is gone: failed, re-queued")
        elif owner is None and trial.datetime_start and time.time() - trial.datetime_start.timestamp() > grace:
            fail_trial(study, trial, "interrupted before it was claimed", True)
            notes.append(f"trial {trial.number} was never claimed: failed")
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(ATTR_RETRY_OF) for t in trials}
    for trial in trials:
        values = intended_values(trial)
        if trial.state == TrialState.FAIL and trial.user_attrs.get(ATTR_RERUN) and trial.number not in retried \
                and values:
            study.enqueue_trial(values, user_attrs={ATTR_RETRY_OF: trial.number})
            notes.append(f"trial {trial.number}'s values queued to run again")
    return notes


def finished_count(study: optuna.Study) -> int:
    """Trials that count towards n_trials: complete and pruned."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def budget_counts(study: optuna.Study) -> tuple[int, set[int]]:
    """The finished trials (complete and pruned) of every machine, and the numbers of those running, in one read."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    running = {t.number for t in trials if t.state == TrialState.RUNNING}
    return len(trials) - len(running), running


# -- moving a study between databases ---------------------------------------------------------------
INCOMPLETE = " (incomplete copy)"  # a copy is made under its name + this, and renamed once every trial is in
ATTR_COPYING = "hpsearch:copying"  # study system attr of a copy being made: the copying process (owner_record)


def copy(name: str, source: str, destination: str) -> int:
    """Copy study `name` with all its trials and hpsearch's attributes from one database to another.

    The copy is made under the name `NAME (incomplete copy)` and renamed to `name` in one transaction once
    every trial is in, so the destination holds the whole study or none of it; a copy stopped on the way
    (Ctrl-C, kill -9, a failing disk) leaves at most that incomplete study, which the next copy replaces.

    Returns the number of trials copied. Files (kept models, the data cache) stay where they are.
    """
    if source == destination:
        raise StudyError(f"--from and --to are the same database ({redact(source)}); name another --to")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not Optuna's own "A new study created" line
    origin = storage_for(source, read_only=True)
    load_stored_spec(name, origin)  # an hpsearch study, or a one-line refusal
    target = storage_for(destination)
    if _has_study(target, name):
        raise StudyError(f"study {name!r} already exists in {redact(destination)}; copy never overwrites "
                         f"(delete it there first: optuna delete-study --study-name {name} --storage URL)")
    original = optuna.load_study(study_name=name, storage=origin)
    try:
        partial = _start_copy(target, name, original.directions, destination)
        try:
            for key, value in origin.get_study_system_attrs(original._study_id).items():
                target.set_study_system_attr(partial, key, value)
            for key, value in original.user_attrs.items():
                target.set_study_user_attr(partial, key, value)
            trials = original.get_trials(deepcopy=False)
            for trial in trials:
                target.create_new_trial(partial, template_trial=trial)
            _publish(target, partial, name)
        except BaseException:
            _discard(target, partial)
            raise
    except DATABASE_ERRORS as exc:
        raise StorageError(f"copying study {name!r} to {redact(destination)} failed: {storage_problem(exc)} "
                           "(nothing was left there under that name; copy again)") from None
    copied = optuna.load_study(study_name=name, storage=target)
    _hide_passwords(copied, copied.user_attrs[ATTR_SPEC], copied.user_attrs.get(ATTR_OVERRIDES, []))  # an older one's
    return len(trials)


def _start_copy(target: optuna.storages.RDBStorage, name: str, directions: list, destination: str) -> int:
    """Create the incomplete copy of `name` and mark it as this process's; one left by a copy that was stopped
    on this machine is replaced. Returns its study id."""
    partial = name + INCOMPLETE
    for _ in range(2):
        try:
            study_id = target.create_new_study(directions, partial)
        except optuna.exceptions.DuplicatedStudyError:
            left = target.get_study_id_from_name(partial)
            owner = target.get_study_system_attrs(left).get(ATTR_COPYING) or {}
            if owner.get("host") not in (None, socket.gethostname()) or (owner and owner_alive(owner)):
                raise StudyError(
                    f"study {name!r} is being copied into {redact(destination)} by process {owner.get('pid')} on "
                    f"{owner.get('host')} (or was, until that process was stopped); wait for it, or delete the "
                    f"incomplete copy: optuna delete-study --study-name '{partial}' --storage URL") from None
            target.delete_study(left)  # its copy was stopped: start again
            continue
        target.set_study_system_attr(study_id, ATTR_COPYING, owner_record())
        return study_id
    raise StudyError(f"study {name!r} is being copied into {redact(destination)} by another process; wait for it")


def _publish(target: optuna.storages.RDBStorage, study_id: int, name: str) -> None:
    """Rename the complete copy to `name` and drop its mark, in one transaction: it appears whole, at once."""
    from optuna.storages._rdb import models  # Optuna has no rename: its tables, quoted for each database
    from sqlalchemy import delete, update
    from sqlalchemy.exc import IntegrityError

    studies_, attrs = models.StudyModel.__table__, models.StudySystemAttributeModel.__table__
    try:
        with target.engine.begin() as connection:
            connection.execute(update(studies_).where(studies_.c.study_id == study_id).values(study_name=name))
            connection.execute(delete(attrs).where(attrs.c.study_id == study_id, attrs.c.key == ATTR_COPYING))
    except IntegrityError:  # the name is unique: a study of that name was created while we copied
        raise StudyError(f"study {name!r} appeared at the destination during the copy; nothing was "
                         "overwritten") from None


def _discard(target: optuna.storages.RDBStorage, study_id: int) -> None:
    """Remove an incomplete copy, where the database still lets us (else the next copy replaces it)."""
    try:
        target.delete_study(study_id)
    except Exception:  # noqa: BLE001 - the error that stopped the copy is the one to report
        pass


def _has_study(storage: optuna.storages.BaseStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True
