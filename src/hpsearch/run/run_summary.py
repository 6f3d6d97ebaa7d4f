"""What one run of a study did, for the CLI to print: trials run, states, the best trial, notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.run.keeping import ATTR_BEST_MODEL_DIR
from hpsearch.run.progress import Progress
from hpsearch.spec.space import StudySpec
from hpsearch.spec.tasks import TASKS
from hpsearch.store import trials
from hpsearch.store.best import best_trials
from hpsearch.store.stored_trial import StoredTrial


@dataclass
class RunSummary:
    study_name: str
    storage: str
    ran: int = 0
    finished: int = 0
    target: int = 0
    states: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    pareto: list[tuple[int, list[float], dict[str, Any]]] = field(default_factory=list)  # several objectives
    warnings: list[str] = field(default_factory=list)
    infeasible: int = 0  # complete trials that break a constraint
    best_metrics: dict[str, float] = field(default_factory=dict)  # the task's metrics of the best trial
    best_model_dir: str | None = None
    notes: list[str] = field(default_factory=list)
    stopped_by: str = "budget"
    best_trial: int | None = None  # the best trial's number (single objective)
    spec: StudySpec | None = None  # the study's space as this run used it: its metric, objectives, constraints


def summarize(summary: RunSummary, study: optuna.Study, spec: StudySpec, url: str, progress: Progress) -> None:
    """Fill `summary` from the study as the run leaves it; register the best trials' model and curve as
    artifacts for the dashboard."""
    summary.spec = spec
    every = study.get_trials(deepcopy=False)
    counts = {state.name: sum(t.state == state for t in every) for state in TrialState}
    summary.states = {name: count for name, count in counts.items() if count}
    summary.finished = trials.finished_count(study)
    summary.warnings = list(study.user_attrs.get("warnings", []))
    summary.infeasible = sum(not StoredTrial(t).feasible for t in every if t.state == TrialState.COMPLETE)
    from hpsearch.store import artifacts  # optuna.artifacts: needed only now, at the run's end

    for note in artifacts.register_best(study, url):
        progress.note(note)
        summary.notes.append(note)
    leaders = best_trials(study)
    if spec.multi_objective:
        summary.pareto = [(t.number, list(t.values), t.params) for t in leaders]
        return
    if not leaders:
        return
    best = leaders[0]
    summary.best_value, summary.best_params, summary.best_trial = best.value, best.params, best.number
    known = TASKS[spec.task.type].metrics
    summary.best_metrics = {k: v for k, v in StoredTrial(best).metrics.items()
                            if k in known or TASKS[spec.task.type].custom}  # custom: whatever its function reported
    summary.best_model_dir = study.user_attrs.get(ATTR_BEST_MODEL_DIR)
