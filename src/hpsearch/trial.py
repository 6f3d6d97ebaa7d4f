"""The trial boundary: what crosses between the study process and a trial's own process.

The study process hands a trial's process one `TrialJob`; the trial speaks over a pipe through its `Channel`, in
tuples whose first item is a tag, and ends by sending its `TrialResult`:

    trial -> study                     study -> trial
    (REPORT, step, value)              PRUNE or CONTINUE   an evaluation; the pruner's answer
    (PROGRESS, step, total)            nothing             a training step, at most once a second
    (KEEP, value)                      True or False       may the trial's model be kept?
    (DONE, result)                     nothing             the TrialResult; the process then exits
    (ERROR, message, traceback)        nothing             the trial failed; the process then exits
    (DIED, reason)                     -                   made by the study process when a trial's process ends unheard

Both sides import this module (train/ inside the trial, run/ in the study process); it imports no other part
of hpsearch, and no torch: the study process unpickles what crosses. `step_hooks` is where a target that wraps
another (hpsearch.run.targets) adds what runs at each step of a trial, inside its process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

REPORT, PROGRESS, KEEP, DONE, ERROR, DIED = "report", "progress", "keep?", "done", "error", "died"
PRUNE, CONTINUE = "prune", "continue"
PROGRESS_EVERY_S = 1.0

# Called inside the trial's process as each step begins (a Trainer's training step, a custom task's report), with the
# step and the model where there is one: empty unless a wrapping target (hpsearch.run.targets) added to it there.
step_hooks: list[Callable[[int, Any], None]] = []


def at_step(step: int, model: Any = None) -> None:
    """Step `step` of this trial begins: run the hooks a wrapping target added."""
    for hook in step_hooks:
        hook(step, model)


@dataclass
class TrialJob:
    """What a worker process needs to run one trial (pickled across the process boundary)."""

    spec: Any  # StudySpec
    number: int
    config: dict[str, Any]
    cache_dir: Path | None
    save_dir: Path | None
    threads: int | None = None
    gpu: str | None = None  # the CUDA device this trial may see, or None on a CPU-only machine
    gpu_share: float | None = None  # the part of its GPU's memory this trial may use (study.trials_per_gpu)
    log_dir: Path | None = None  # where the trial's TensorBoard log goes (task.report_to)


class Channel:
    """The worker's end of the pipe to the study process."""

    def __init__(self, conn):
        self.conn = conn
        self._last_progress = 0.0

    def ask(self, *message: Any) -> Any:
        self.conn.send(message)
        try:
            return self.conn.recv()
        except (EOFError, OSError):  # the study process is gone: nothing left to train for
            os._exit(3)

    def report(self, step: int, value: float) -> bool:
        """Send an evaluation; True when the pruner says stop."""
        return self.ask(REPORT, step, value) == PRUNE

    def progress(self, step: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_progress > PROGRESS_EVERY_S:
            self._last_progress = now
            self.conn.send((PROGRESS, step, total))

    def done(self, result: Any) -> None:
        self.conn.send((DONE, result))

    def error(self, message: str, traceback: str | None = None) -> None:
        self.conn.send((ERROR, message) if traceback is None else (ERROR, message, traceback))


# What the study stores of a trial: the TrialResult's state and objective values told to Optuna, every other field a
# user attribute of the trial under the field's name (readers of a stored trial find them by the same names), and
# these user attributes beside them:
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
    setup_shared: bool | None = None  # True: built once in the fork server for every trial (hpsearch.train.shared)
    decode_seconds: float | None = None
    samples_per_second: float | None = None
    effective_batch_size: int | None = None
    peak_memory_mb: float | None = None
    peak_gpu_memory_mb: float | None = None  # torch.cuda.max_memory_allocated on the trial's GPU; none on a CPU
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
        value = self.best_metrics.get(name, getattr(self, name) if name in FIELDS else None)
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


FIELDS = frozenset(f.name for f in fields(TrialResult))
