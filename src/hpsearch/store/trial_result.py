"""A trial's result: what its worker process sends back, and what the study stores of it on the trial.

The worker builds one TrialResult; the study process tells Optuna its state and objective values and
stores every other field as a user attribute of the trial, under the field's name. Readers of a stored
trial (results, tables, artifacts) find them there by the same names. No torch: the study process unpickles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import optuna
from optuna.trial import TrialState

# user attributes set on a trial beside its result's fields
FEASIBLE = "feasible"  # False on a complete trial that breaks a constraint
TRACEBACK = "traceback"  # the end of a failed trial's traceback
CONFIG = "config"  # every value the trial trained with: sampled and fixed
# what a trial's process sends as its error when it was interrupted (a KeyboardInterrupt there: the user's code raised
# it, or a SIGINT reached it): the study stops as on Ctrl-C and the trial runs again, never recorded as its failure
INTERRUPTED = "interrupted: a KeyboardInterrupt in the trial's process"

# An unset field (None) is left off the stored trial: a decoding trial trains nothing, a model is kept only when
# asked. These two are stored even so, as null: no GPU, no time measured.
STORED_WHEN_NONE = frozenset({"gpu", "samples_per_second"})
NOT_STORED_AS_ATTRS = ("state", "value")  # Optuna records these itself (tell)


@dataclass
class TrialResult:
    """How a trial ended and what it measured. The field order is the order they are stored in."""

    state: str  # "complete" or "pruned"
    value: float | None  # the watched metric at the trial's best evaluation
    best_step: int
    stop_reason: str  # completed, stopped_early, pruned (failed: set by the study process)
    stop_step: int
    planned_steps: int | None = None  # what the trial would have trained without a stop
    history: list[list[float]] = field(default_factory=list)  # [step, value] of each evaluation
    history_seconds: list[float] | None = None  # compute spent by each evaluation: anytime curves, replays
    best_metrics: dict[str, float] = field(default_factory=dict)  # every metric at the best evaluation
    train_seconds: float = 0.0
    setup_seconds: float | None = None  # data, tokenization, model load, Trainer
    setup_shared: bool | None = None  # True: built once in the fork server for every trial (hpsearch.run.shared)
    decode_seconds: float | None = None
    samples_per_second: float | None = None
    effective_batch_size: int | None = None
    peak_memory_mb: float | None = None
    n_parameters: int | None = None
    n_trainable_parameters: int | None = None
    device: str | None = None
    threads: int | None = None
    gpu: str | None = None
    versions: dict[str, str] | None = None
    notes: list[str] | None = None  # the task's notes: a capped sequence length, ... ("warning: ...")
    model_dir: str | None = None  # where the trial's model was kept
    worker_started: float | None = None  # time.time() when the worker began: the process start's cost

    def attrs(self) -> dict[str, Any]:
        """The user attributes stored on the trial, in field order."""
        found = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in NOT_STORED_AS_ATTRS or (value is None and item.name not in STORED_WHEN_NONE):
                continue
            found[item.name] = value
        return found

    def quantity(self, name: str) -> float | None:
        """The trial's `name`: an evaluation metric at its best evaluation, or a quantity of the run."""
        value = self.best_metrics.get(name, getattr(self, name) if name in _FIELDS else None)
        return None if value is None else float(value)

    def values(self, objectives) -> list[float] | None:
        """The trial's value of each objective (spec.objectives.Objective), or None when one is missing (no
        evaluation happened)."""
        found = [self.quantity(o.name) for o in objectives]
        return None if any(v is None for v in found) else found

    def constraint_values(self, constraints: dict[str, Any]) -> list[float] | None:
        """Optuna's constraint values: at most 0 where a bound holds, the size of the violation where not."""
        found = []
        for name, bound in constraints.items():
            value = self.quantity(name)
            if value is None:
                return None
            found.append(max(value - bound.max if bound.max is not None else float("-inf"),
                             bound.min - value if bound.min is not None else float("-inf")))
        return found


_FIELDS = frozenset(f.name for f in fields(TrialResult))


def ranked(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """A single-objective study's complete trials, best first, feasible before infeasible."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(complete, key=lambda t: (t.user_attrs.get(FEASIBLE) is False, sign * t.value))
