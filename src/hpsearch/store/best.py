"""What a stored study says it optimizes and which of its trials are best: the one home of both.

Every reader (the study's own summary at the end of a run, keeping models, artifacts, `show`, `best`, `export`,
`report`, `compare`, `hpsearch.load` / `hpsearch.best`) asks here, so they agree on the names and the winners.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch.errors import UsageError


def objective_names(user_attrs: dict[str, Any], directions: int) -> list[str]:
    """The name of each of a study's `directions` objectives, from the study's user attributes: the names hpsearch
    stored (`objectives`), else the watched `metric` (a study stored before objectives were), else `value`;
    `objective <i>` for any objective no stored name covers (a study hpsearch did not make)."""
    stored = list(user_attrs.get("objectives") or [user_attrs.get("metric") or "value"])
    return [str(stored[i]) if i < len(stored) else f"objective {i}" for i in range(directions)]


def best_trials(study: optuna.Study, required: bool = False) -> list[FrozenTrial]:
    """The best trial as a list of one, or with several objectives the Pareto front in trial order; feasible trials
    only (a trial that breaks a constraint never leads).

    Returns [] while no trial is complete and feasible, unless `required`: then UsageError (exit 2) says so.
    """
    if len(study.directions) > 1:
        found = sorted(study.best_trials, key=lambda t: t.number)
    else:
        try:
            found = [study.best_trial]
        except ValueError:  # nothing complete (or nothing feasible) yet
            found = []
    if required and not found:
        raise UsageError(f"study {study.study_name!r} has no complete (feasible) trial yet")
    return found
