"""A running trial's evaluations in the study process: answered at once, written to the database in batches.

Optuna's `trial.report` commits each value on its own (a few milliseconds on SQLite, a network round trip on
PostgreSQL), and `should_prune` lets the pruner read every finished trial, however early the step; a training
loop that reported every step spent more time on this than on training. Here an evaluation is added to the
trial Optuna holds in memory, where the pruner reads it; the pruner is asked only where it could prune
(hpsearch.search.registry.may_prune: a median rule before its warm-up step or its start-up trials keeps every
trial); and the values are written together, in one transaction, once the oldest unwritten one is FLUSH_S old
(at the next report or the loop's next look) and always before the trial is told how it ended.

What a kill -9 of the study process can lose: the evaluations of the last FLUSH_S seconds of the trials it ran,
trials that the next run recovers as failed and runs again. A killed trial process loses nothing that reached the
study process: its trial's values are written before its failure is told.
"""

from __future__ import annotations

import time

import optuna

from hpsearch.search.registry import may_prune
from hpsearch.store import optuna_private, trials

FLUSH_S = 1.0  # the longest an evaluation waits, unwritten, in the study process
FINISHED_S = 1.0  # how long a count of the study's finished trials stands before it is read again


class Evaluations:
    """The evaluations of the study's running trials: held, judged, and written in batches."""

    def __init__(self, study: optuna.Study, pruner: dict, judged: bool = True):
        self.study, self.pruner, self.judged = study, pruner, judged  # judged: False for several objectives
        self.pending: dict[int, tuple[dict[int, float], float]] = {}  # by trial number: values, since when
        self.finished, self.counted_at = 0, -FINISHED_S

    def report(self, trial: optuna.Trial, step: int, value: float) -> bool:
        """Record an evaluation of a running trial; whether the pruner stops it."""
        if not self.judged:  # Optuna records and prunes single-objective trials only
            return False
        if optuna_private.hold_intermediate_value(trial, step, value):
            self.pending.setdefault(trial.number, ({}, time.monotonic()))[0][step] = float(value)
            self.flush_due(trial)
        return self._may_prune(step) and bool(trial.should_prune())

    def flush(self, trial: optuna.Trial) -> None:
        """Write what `trial` reported and has not been written (before it is told how it ended, say)."""
        if trial.number in self.pending:
            values, _ = self.pending.pop(trial.number)
            optuna_private.write_intermediate_values(self.study, trial, values)

    def flush_due(self, trial: optuna.Trial) -> None:
        """Write what `trial` reported once the oldest unwritten value has waited FLUSH_S."""
        held = self.pending.get(trial.number)
        if held is not None and time.monotonic() - held[1] >= FLUSH_S:
            self.flush(trial)

    def drop(self, trial: optuna.Trial) -> None:
        """Forget what a trial that another machine has failed reported: its values can no longer be written."""
        self.pending.pop(trial.number, None)

    def _may_prune(self, step: int) -> bool:
        """Whether the pruner could stop a trial at `step`, with the study's finished trials counted at most
        FINISHED_S ago (a count, not every trial read: the reason not to ask the pruner itself)."""
        if may_prune(self.pruner, step, self.finished):
            return True
        if time.monotonic() - self.counted_at < FINISHED_S or not may_prune(self.pruner, step, 10**9):
            return False
        self.finished, self.counted_at = trials.budget_counts(self.study)[0], time.monotonic()
        return may_prune(self.pruner, step, self.finished)
