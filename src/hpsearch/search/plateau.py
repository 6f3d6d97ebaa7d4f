"""The default pruner: the median rule, made safe for fine-tuning's plateaus and the evaluation's noise.

Fine-tuning curves often start flat: a classifier sits at the majority class for the first evaluations,
good configurations included, and then rises (a late bloomer). The plain median rule prunes such a trial
at the first evaluations, where it ties with the hopeless ones, and it prunes on differences smaller than
the evaluation can measure (an accuracy on 300 examples has a standard error near 0.026). This pruner
stops a trial at a step only when all of these hold:

1. at least `n_startup_trials` finished trials reached that step (as the median rule);
2. the trial's best value so far is worse than the `percentile` of theirs by more than the noise
   margin (`margin` in the metric's units, plus `relative_margin` of the threshold's size);
3. the trial has left its starting plateau (some value moved away from its first one by more than the
   margin), or it has used more than `plateau_share` of the steps the finished trials ran: a flat trial
   is given that long to bloom.
"""

from __future__ import annotations

import math

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import TrialState


class PlateauPruner(BasePruner):
    """Prune below the median by more than the noise, sparing trials still on their starting plateau.

    Args:
        margin: the evaluation's noise in the metric's units; a trial closer than this to the threshold runs on.
        relative_margin: a further margin as a share of the threshold's size (for losses, whose scale varies).
        percentile: the threshold among the finished trials' best values at the same step (50: the median).
        n_startup_trials: finished trials needed at a step before anything is pruned at it.
        n_warmup_steps: steps before which nothing is pruned.
        plateau_share: how far into the finished trials' steps a flat trial is spared (0 spares none).
    """

    def __init__(self, margin: float = 0.0, relative_margin: float = 0.0, percentile: float = 50.0,
                 n_startup_trials: int = 5, n_warmup_steps: int = 0, plateau_share: float = 0.5) -> None:
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin must be 0 or more, but got {margin}")
        if not (math.isfinite(relative_margin) and relative_margin >= 0):
            raise ValueError(f"relative_margin must be 0 or more, but got {relative_margin}")
        if not 0 <= percentile <= 100:
            raise ValueError(f"percentile must be between 0 and 100, but got {percentile}")
        if n_startup_trials < 0 or n_warmup_steps < 0:
            raise ValueError("n_startup_trials and n_warmup_steps must be 0 or more")
        if not 0 <= plateau_share <= 1:
            raise ValueError(f"plateau_share must be between 0 and 1, but got {plateau_share}")
        self.margin = margin
        self.relative_margin = relative_margin
        self.percentile = percentile
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.plateau_share = plateau_share

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return False
        maximize = study.direction == StudyDirection.MAXIMIZE
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        peers = [best_until(t.intermediate_values, step, maximize) for t in finished if step in t.intermediate_values]
        peers = [v for v in peers if not math.isnan(v)]
        if len(peers) < max(self.n_startup_trials, 1):
            return False
        threshold = _percentile(peers, 100 - self.percentile if maximize else self.percentile)
        mine = best_until(trial.intermediate_values, step, maximize)
        if math.isnan(mine):
            return True  # a NaN evaluation is as bad as it gets
        gap = threshold - mine if maximize else mine - threshold
        margin = self.noise(threshold)
        if gap <= margin:
            return False
        return not self._blooming(trial, step, finished, margin)

    def noise(self, threshold: float) -> float:
        """The margin within which a value counts as the threshold's equal: absolute plus relative."""
        return self.margin + self.relative_margin * abs(threshold)

    def _blooming(self, trial, step: int, finished, margin: float) -> bool:
        """Whether the trial still sits on its starting plateau, early enough to be given time."""
        values = [v for s, v in sorted(trial.intermediate_values.items()) if s <= step]
        if any(abs(v - values[0]) > margin for v in values):
            return False
        longest = max((max(t.intermediate_values) for t in finished if t.intermediate_values), default=0)
        return self.plateau_share > 0 and step <= self.plateau_share * longest


def best_until(values: dict[int, float], step: int, maximize: bool) -> float:
    """The best of `values` reported at or before `step` (NaN when there is none)."""
    seen = [v for s, v in values.items() if s <= step and not math.isnan(v)]
    if not seen:
        return math.nan
    return max(seen) if maximize else min(seen)


def _percentile(values: list[float], q: float) -> float:
    """The q-th percentile, linearly interpolated (numpy's default), without importing numpy here."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
