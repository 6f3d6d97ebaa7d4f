"""Keeping trained models: which trial may save its model, and which saved folders stay.

With `study.save: best` a trial saves its model only when it beats the best so far, and once the study has
been told, only the best trial's folder stays (several objectives: the Pareto front's). With `save: all`
every complete trial keeps its model. The study records where the best model is (`best_model_dir`), which
`task.from_study` of a later study fine-tunes further.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna

from hpsearch.spec.space import StudySpec

ATTR_BEST_MODEL_DIR = "best_model_dir"  # study attr: the folder of the best trial's kept model


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The study's best trial, or None while nothing is complete (or nothing feasible)."""
    try:
        return study.best_trial
    except ValueError:
        return None


class Keeper:
    """Decides, for one study, which trials' models are saved and which stay on disk."""

    def __init__(self, study: optuna.Study, spec: StudySpec):
        self.study, self.spec = study, spec

    def may_keep(self, value: float | None) -> bool:
        """Whether a trial that ended with `value` should save its model (asked before the study is told)."""
        if self.spec.study.save == "all" or self.spec.multi_objective:  # several objectives: decided after tell
            return True
        try:
            best = self.study.best_value
        except ValueError:  # no complete trial yet
            best = None
        return self.spec.improves(value, best)

    def keep_best(self, model_dir: str | None, running: set[str]) -> None:
        """With save: best, only the best trial's folder stays (and those of the `running` trials); the study
        records where it is."""
        if model_dir is None or self.spec.study.save != "best":
            return
        best = self.study.best_trials if self.spec.multi_objective else [best_trial(self.study)]
        keep = {t.user_attrs.get("model_dir") for t in best if t is not None}
        if model_dir not in keep:
            shutil.rmtree(model_dir, ignore_errors=True)
            return
        if not self.spec.multi_objective:
            self.study.set_user_attr(ATTR_BEST_MODEL_DIR, model_dir)
        for folder in Path(model_dir).parent.glob("trial-*"):
            if str(folder) not in keep and str(folder) not in running:
                shutil.rmtree(folder, ignore_errors=True)
