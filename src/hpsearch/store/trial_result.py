"""The stored trials of a study ranked by their result (what a trial stores is hpsearch.trial's TrialResult)."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from hpsearch.trial import FEASIBLE


def ranked(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """A single-objective study's complete trials, best first, feasible before infeasible."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(complete, key=lambda t: (t.user_attrs.get(FEASIBLE) is False, sign * t.value))
