"""How a trial ended, told to the study in one place: COMPLETE, PRUNED or FAIL.

As Optuna's own `_run_trial` does, a trial's end is recorded by one path: a result that was pruned is told
PRUNED, a result with a value for every objective COMPLETE, and anything else (an error, a crash, a result
without an evaluation) FAIL with its reason on the trial; a failure is never hidden behind a made-up value.
Trials that keep failing the same way stop the study, so a broken space does not burn its whole budget.
"""

from __future__ import annotations

import re

import optuna
from optuna.trial import TrialState

from hpsearch.errors import StudyStopped
from hpsearch.run.progress import Progress
from hpsearch.run.protocol import Ended
from hpsearch.spec.space import StudySpec
from hpsearch.store import optuna_private, trials
from hpsearch.trial import FEASIBLE, TRACEBACK, TrialResult

SAME_FAILURES_TO_STOP = 3  # failures in a row with the same reason stop the study
ANY_FAILURES_TO_STOP = 10  # failures in a row of any kind stop it too
NO_EVALUATION = "the trial made no evaluation (is the training set empty?)"
TRACEBACK_CHARS = 4000  # the end of a failed trial's traceback, where the error is


class Outcomes:
    """Tells a study how each of its trials ended, and stops it when trials keep failing."""

    def __init__(self, study: optuna.Study, spec: StudySpec, progress: Progress):
        self.study, self.spec, self.progress = study, spec, progress
        self.failures: list[str] = []  # the reasons of the failures in a row, since the last trial that finished

    def tell(self, trial: optuna.Trial, ended: Ended) -> TrialState:
        """Record how `trial` ended; raises StudyStopped when too many trials in a row failed."""
        if ended.traceback is not None:
            trial.set_user_attr(TRACEBACK, ended.traceback[-TRACEBACK_CHARS:])
        reason = ended.error
        if ended.result is not None:
            state = self._finished(trial, ended.result)
            if state is not None:
                self.failures = []
                return state
            reason = NO_EVALUATION
        self._failed(trial, reason)
        return TrialState.FAIL

    def interrupted(self, trial: optuna.Trial, reason: str, shown: bool = True) -> None:
        """Fail a trial that was stopped, not broken: its values run again on the next run."""
        trials.fail_trial(self.study, trial, reason, rerun=True)
        if shown:
            self.progress.trial_finished(trial.number, "FAIL", None, reason)

    def _finished(self, trial: optuna.Trial, result: TrialResult) -> TrialState | None:
        """Store the trial's result and tell it PRUNED or COMPLETE; None when it has no value to tell."""
        optuna_private.set_trial_user_attrs(self.study, trial, result.attrs())
        self._record_notes(result.notes or [])
        self._record_constraints(trial, result)
        if result.state == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
            self.progress.trial_finished(trial.number, "PRUNED", result.value, f"pruned at step {result.stop_step}")
            return TrialState.PRUNED
        values = result.values(self.spec.objectives)
        if values is None:
            return None
        self.study.tell(trial, values)
        self.progress.trial_finished(trial.number, "COMPLETE", values[0] if len(values) == 1 else values,
                                     result.stop_reason)
        return TrialState.COMPLETE

    def _failed(self, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr("stop_reason", "failed")
        trials.fail_trial(self.study, trial, reason, rerun=False)
        self.progress.trial_finished(trial.number, "FAIL", None, reason)
        self.failures.append(reason)
        same = [_kind_of(r) for r in self.failures[-SAME_FAILURES_TO_STOP:]]
        if len(same) == SAME_FAILURES_TO_STOP and len(set(same)) == 1:
            raise StudyStopped(f"{SAME_FAILURES_TO_STOP} trials in a row failed the same way, so the study stopped: "
                               f"{reason}")
        if len(self.failures) >= ANY_FAILURES_TO_STOP:
            raise StudyStopped(f"{len(self.failures)} trials in a row failed, so the study stopped; the last: "
                               f"{reason}")

    def _record_constraints(self, trial: optuna.Trial, result: TrialResult) -> None:
        """Constraint values go where Optuna's samplers and best_trial read them; violators stay, infeasible."""
        found = result.constraint_values(self.spec.study.constraints)
        if found is None or not self.spec.study.constraints:
            return
        optuna_private.set_constraints(self.study, trial, found)
        trial.set_user_attr(FEASIBLE, all(v <= 0 for v in found))

    def _record_notes(self, notes: list[str]) -> None:
        """A trial's warnings about the space (a capped sequence length, ...) also go on the study, once."""
        warnings = [note for note in notes if note.startswith("warning:")]
        if not warnings:  # most trials: the study's attributes are not read
            return
        known = list(self.study.user_attrs.get("warnings", []))
        new = [note for note in warnings if note not in known]
        if new:
            self.study.set_user_attr("warnings", known + new)
            for note in new:
                self.progress.note(note)


def _kind_of(reason: str) -> str:
    """A failure's reason without its numbers, so 'loss is nan at step 3' and '... step 7' count as one."""
    return re.sub(r"\d+(\.\d+)?", "#", reason)
