"""Heartbeats and recovery: what keeps a study whole when a machine or a process dies mid-trial.

Every trial this process runs beats a heartbeat in the database; any process of the study fails a trial
whose beat went stale (its machine vanished) and queues its values to run again. At the start and the end
of a run, and while it waits on other machines, trials left RUNNING by a dead process are recovered the
same way (see hpsearch.store.trials.recover). The study process alone writes: workers never beat.
"""

from __future__ import annotations

import time
import warnings

import optuna

from hpsearch.run.progress import Progress
from hpsearch.store import optuna_private, trials

IDLE_S = 1.0  # how long a study with only other machines' trials running waits between looks


def recover(study: optuna.Study, progress: Progress) -> list[str]:
    """Fail the trials a dead process left RUNNING (their values run again); what was done, as notes."""
    notes = trials.recover(study)
    for note in notes:
        progress.note(note)
    return notes


class Heartbeats:
    """The heartbeats of this process's running trials, and the failing of other machines' stale ones."""

    def __init__(self, study: optuna.Study, progress: Progress):
        self.study, self.progress = study, progress
        self.next_beat = 0.0

    @property
    def enabled(self) -> bool:
        """Whether the storage keeps heartbeats (hpsearch.store.studies.storage_for turns them on)."""
        return optuna_private.heartbeat_interval(self.study) is not None

    def beat(self, trials: list[optuna.Trial]) -> None:
        """When due: beat for our running `trials`, and fail other machines' trials whose beat went stale."""
        if not self.enabled or time.monotonic() < self.next_beat:
            return
        for trial in trials:
            optuna_private.record_heartbeat(self.study, trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        self.next_beat = time.monotonic() + optuna_private.heartbeat_interval(self.study)

    def idle(self) -> None:
        """Wait while only other machines' trials run; fail those whose machine stopped beating."""
        time.sleep(IDLE_S)
        # Judged after the sleep, where beat() judges it: judged before, the beat took every due moment
        # and recover() never ran on an idling run (it waited on an unclaimed trial for ever)
        due = time.monotonic() >= self.next_beat
        self.beat([])
        if due:  # a trial asked for but never claimed has no heartbeat: recover() fails it after its grace
            recover(self.study, self.progress)
