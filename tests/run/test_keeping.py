"""Which kept model folders stay: the database decides, whichever process or folder runs the study."""

import optuna
import pytest

from hpsearch.run.keeping import ATTR_BEST_MODEL_DIR, Keeper

SINGLE = """
study: {name: t, metric: eval_accuracy, direction: maximize}
task: {dataset: {path: data.csv}}
space:
  learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
"""
PARETO = SINGLE.replace("metric: eval_accuracy, direction: maximize",
                        "metric: [eval_accuracy, n_parameters], direction: [maximize, minimize]")


def study_with_folders(tmp_path, spec, n):
    """A study of `n` asked trials, each with a model folder holding a file."""
    study = optuna.create_study(directions=[o.direction for o in spec.objectives])
    folder = tmp_path / "models"
    trials = [study.ask() for _ in range(n)]
    for trial in trials:
        (folder / f"trial-{trial.number}").mkdir(parents=True)
        (folder / f"trial-{trial.number}" / "model.safetensors").write_text("weights")
    return study, trials, folder


def told(study, trial, folder, values):
    """Tell the study a trial that kept its model in `folder` (as the loop does: model_dir, then tell)."""
    trial.set_user_attr("model_dir", str(folder / f"trial-{trial.number}"))
    study.tell(trial, values)


def kept(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_trial_running_in_another_process_keeps_its_folder(tmp_path, make_spec):
    spec = make_spec(SINGLE)
    study, trials, folder = study_with_folders(tmp_path, spec, 3)
    told(study, trials[0], folder, 0.5)
    told(study, trials[2], folder, 0.9)  # trial 1 runs in another process: this one never started it
    Keeper(study, spec, folder).keep_best(str(folder / "trial-2"))
    assert kept(folder) == ["trial-1", "trial-2"]
    assert study.user_attrs[ATTR_BEST_MODEL_DIR] == str(folder / "trial-2")


def test_a_worse_trial_loses_its_folder_and_the_best_keeps_its_own(tmp_path, make_spec):
    spec = make_spec(SINGLE)
    study, trials, folder = study_with_folders(tmp_path, spec, 2)
    (folder / "trial-7").mkdir()  # no such trial in this study: not this study's to remove
    told(study, trials[0], folder, 0.9)
    told(study, trials[1], folder, 0.5)
    Keeper(study, spec, folder).keep_best(str(folder / "trial-1"))
    assert kept(folder) == ["trial-0", "trial-7"]


@pytest.mark.parametrize("state", [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED])
def test_a_finished_trial_that_is_not_best_loses_its_folder(tmp_path, make_spec, state):
    spec = make_spec(SINGLE)
    study, trials, folder = study_with_folders(tmp_path, spec, 2)
    study.tell(trials[0], state=state)  # a crashed trial's half-written folder
    told(study, trials[1], folder, 0.5)
    Keeper(study, spec, folder).keep_best(str(folder / "trial-1"))
    assert kept(folder) == ["trial-1"]


def test_a_pareto_trial_stored_with_a_relative_path_keeps_its_folder(tmp_path, make_spec):
    spec = make_spec(PARETO)
    study, trials, folder = study_with_folders(tmp_path, spec, 3)
    trials[0].set_user_attr("model_dir", "studies/hpsearch/t/trial-0")  # an older run, from its own folder
    study.tell(trials[0], [0.9, 100])
    study.tell(trials[1], [0.5, 200])  # dominated by trial 0
    told(study, trials[2], folder, [0.8, 10])  # resumed from another folder: on the front beside trial 0
    Keeper(study, spec, folder).keep_best(str(folder / "trial-2"))
    assert kept(folder) == ["trial-0", "trial-2"]


def test_save_all_removes_nothing(tmp_path, make_spec):
    spec = make_spec(SINGLE.replace("name: t,", "name: t, save: all,"))
    study, trials, folder = study_with_folders(tmp_path, spec, 2)
    told(study, trials[0], folder, 0.9)
    told(study, trials[1], folder, 0.5)
    Keeper(study, spec, folder).keep_best(str(folder / "trial-1"))
    assert kept(folder) == ["trial-0", "trial-1"]
