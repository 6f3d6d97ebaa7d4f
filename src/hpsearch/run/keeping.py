"""Keeping trained models: which trial may save its model, and which saved folders stay.

With `study.save: best` a trial saves its model only when it beats the best so far, and once the study has
been told, only the best trial's folder stays (several objectives: the Pareto front's). With `save: all`
every complete trial keeps its model. The study records where the best model is (`best_model_dir`), which
`task.from_study` of a later study fine-tunes further.

Several processes (and machines) may run one study, each with trials writing their folders: what stays is
decided from the database, never from what this process runs. A folder goes only once its trial has
finished without being best; a trial that has not finished (running anywhere, or not yet told) may still
write its folder or become the best. Trials are read before the best, so a trial finished in that read
and not best afterwards can never become best again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna

from hpsearch.spec.space import StudySpec
from hpsearch.store.best import best_trials
from hpsearch.store.folders import trial_number

ATTR_BEST_MODEL_DIR = "best_model_dir"  # study attr: the folder of the best trial's kept model


class Keeper:
    """Decides, for one study, which trials' models are saved and which stay on disk."""

    def __init__(self, study: optuna.Study, spec: StudySpec, folder: Path):
        self.study, self.spec = study, spec
        self.folder = folder  # the study's model folders, one `trial-N` per trial (store.folders.models_dir)

    def may_keep(self, value: float | None) -> bool:
        """Whether a trial that ended with `value` should save its model (asked before the study is told)."""
        if self.spec.study.save == "all" or self.spec.multi_objective:  # several objectives: decided after tell
            return True
        try:
            best = self.study.best_value
        except ValueError:  # no complete trial yet
            best = None
        return self.spec.improves(value, best)

    def keep_best(self, model_dir: str | None) -> None:
        """With save: best, after a trial kept its model in `model_dir`: only the best trials' folders stay,
        beside those of trials not finished yet; the study records where the best model is."""
        if model_dir is None or self.spec.study.save != "best":
            return
        finished = {t.number for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()}
        leaders = {t.number: t for t in best_trials(self.study)}
        if not self.spec.multi_objective and trial_number(Path(model_dir)) in leaders:
            self.study.set_user_attr(ATTR_BEST_MODEL_DIR, model_dir)
        for folder in self.folder.glob("trial-*"):
            number = trial_number(folder)
            if number in finished and number not in leaders:
                shutil.rmtree(folder, ignore_errors=True)
