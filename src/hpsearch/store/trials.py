"""Trial bookkeeping in storage: who runs a trial, its heartbeat, and recovery of interrupted trials.

A running trial records its owner (host, pid, process start, PID namespace, boot); before each run, trials
left RUNNING by a process this one can see (the same host, boot and PID namespace) that no longer exists are
failed, and every trial that failed only because it was
interrupted gets its values queued again: nothing complete is re-run. Across machines, and across
containers of one host (whose pids this process cannot see), a heartbeat does the same: a trial silent past its
grace is failed by any worker and its values re-run once.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import StudyError
from hpsearch.store import optuna_private
from hpsearch.store.database import LOCK_TIMEOUT_S
from hpsearch.store.known import CARRIED

ATTR_OWNER = "hpsearch:owner"  # on a trial: {"host", "pid", "started", "pid_namespace", "boot"} of its process
ATTR_RERUN = "hpsearch:rerun"  # on a failed trial: its values must run again (it was interrupted)
ATTR_RETRY_OF = "hpsearch:retry_of"  # on a queued trial: the number of the trial it re-runs
ATTR_REASON = "fail_reason"
ATTR_STALE = "hpsearch:stale"  # on a queued trial: why the trial it re-runs failed (its heartbeat went stale)
UNOWNED_GRACE_S = 300  # a RUNNING trial without an owner record is failed only after this long ...
# ... or this long on SQLite, where every writer is on this machine: longer than a claim can wait for the file's
# lock (database.LOCK_TIMEOUT_S), so a trial whose claim is merely queued behind another writer is never taken
UNCLAIMED_GRACE_SQLITE_S = LOCK_TIMEOUT_S + 30
HEARTBEAT_INTERVAL_S = 30  # running trials beat this often ...
HEARTBEAT_GRACE_S = 120  # ... and one silent this long is failed by any worker and its values re-run once
HEARTBEAT_ENV = "HPSEARCH_HEARTBEAT"  # "INTERVAL,GRACE" in seconds, e.g. "1,4" in tests; the default above


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


def owner_record() -> dict[str, Any]:
    """This process, as a trial's owner: its pid means something only on this host, boot and PID namespace."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _process_start(os.getpid()),
            "pid_namespace": _read(lambda: os.readlink("/proc/self/ns/pid")),
            "boot": _read(lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip())}


def _read(how: Callable[[], str]) -> str | None:
    """What /proc tells, or None where it does not (another system, a container without /proc)."""
    try:
        return how()
    except OSError:
        return None


def owner_gone(owner: dict[str, Any]) -> bool:
    """Whether the process `owner` records is certainly gone: it ran where this process can see its pid (this
    host, boot and PID namespace) and no longer runs there.

    An owner elsewhere (another machine, another container of this host: containers share a hostname and
    number their pids from 1) is never judged by a pid: its trial's heartbeat says whether it lives.
    An older record without a namespace or a boot counts as this one's, as it always did.
    """
    here = owner_record()
    if owner.get("host") != here["host"]:
        return False
    for key in ("pid_namespace", "boot"):
        if owner.get(key) is not None and here[key] is not None and owner[key] != here[key]:
            return False
    return not owner_alive(owner)


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


def fail_trial(study: optuna.Study, trial: FrozenTrial | optuna.Trial, reason: str, rerun: bool) -> None:
    """Record why a trial failed and mark it FAIL; `rerun` queues its values for the next run."""
    optuna_private.set_trial_user_attr(study, trial, ATTR_REASON, reason)
    if rerun:
        optuna_private.set_trial_user_attr(study, trial, ATTR_RERUN, True)
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
    url = optuna_private.storage_url(study)
    return UNCLAIMED_GRACE_SQLITE_S if url.startswith("sqlite") else UNOWNED_GRACE_S


def recover(study: optuna.Study) -> list[str]:
    """Fail this host's orphaned trials and queue the values of every interrupted one; say what was done."""
    notes = []
    grace = unclaimed_grace(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(ATTR_OWNER)
        if owner and owner_gone(owner):
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
            carried = {k: trial.user_attrs[k] for k in CARRIED if k in trial.user_attrs}  # a known configuration's mark
            study.enqueue_trial(values, user_attrs={ATTR_RETRY_OF: trial.number, **carried})
            notes.append(f"trial {trial.number}'s values queued to run again")
    return notes


def finished_count(study: optuna.Study) -> int:
    """Trials that count towards n_trials: complete and pruned."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def budget_counts(study: optuna.Study) -> tuple[int, set[int]]:
    """The finished trials (complete and pruned) of every machine, and the numbers of those running, in one read."""
    if (counted := optuna_private.budget_counts(study)) is not None:
        return counted
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    running = {t.number for t in trials if t.state == TrialState.RUNNING}
    return len(trials) - len(running), running
