"""A stored trial read by name: what a study's readers need of a trial, under the field names TrialResult defines.

The study process stores a trial's TrialResult as the trial's user attributes, field by field
(hpsearch.store.trial_result); `StoredTrial` reads them back as attributes (`trial.train_seconds`,
`trial.model_dir`), so no reader spells an attribute's name as a bare string. A name that is not a field of
TrialResult fails as this module is imported, not when a reader finds the attribute missing.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hpsearch.store.known import START_WITH
from hpsearch.trial import CONFIG, FEASIBLE, TrialResult

RESULT_FIELDS = frozenset(item.name for item in fields(TrialResult))


def _stored(name: str, default: Any = None) -> property:
    """The trial's stored result field `name` (`default` when the trial did not store it)."""
    if name not in RESULT_FIELDS:
        raise AttributeError(f"TrialResult has no field {name!r}")
    return property(lambda self: self.trial.user_attrs.get(name, default), doc=f"The stored result's {name}.")


class StoredTrial:
    """One stored trial (an Optuna FrozenTrial, or anything with its `number`, `params` and `user_attrs`) with named
    fields for what its worker stored."""

    def __init__(self, trial: Any):
        self.trial = trial

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def params(self) -> dict[str, Any]:
        """The sampled values only."""
        return dict(self.trial.params)

    train_seconds = _stored("train_seconds")
    stop_step = _stored("stop_step")
    stop_reason = _stored("stop_reason")
    model_dir = _stored("model_dir")
    history = _stored("history", [])
    _best_metrics = _stored("best_metrics", {})

    @property
    def metrics(self) -> dict[str, float]:
        """Every metric at the trial's best evaluation."""
        return dict(self._best_metrics)

    @property
    def config(self) -> dict[str, Any]:
        """Every value the trial trained with: sampled and fixed (the sampled values of a trial that stored none)."""
        return dict(self.trial.user_attrs.get(CONFIG, self.trial.params))

    @property
    def feasible(self) -> bool:
        """False only for a trial recorded as breaking a constraint."""
        return self.trial.user_attrs.get(FEASIBLE) is not False

    @property
    def start_with(self) -> str | None:
        """Where the trial's known configuration came from (study.start_with.0, best.json), or None."""
        return self.trial.user_attrs.get(START_WITH)
