"""hpsearch.study: storage helpers."""

import optuna
import pytest

from hpsearch import study as studies


@pytest.mark.parametrize("where", ["sqlite", "memory"])
def test_set_user_attrs_records_every_key_at_once(tmp_path, where):
    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db") if where == "sqlite" else None
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    attrs = {"history": [[1, 0.5], [2, 0.6]], "train_seconds": 1.5, "stop_reason": "completed", "config": {"a": 1}}
    studies.set_user_attrs(study, trial._trial_id, attrs)
    studies.set_user_attrs(study, trial._trial_id, {"train_seconds": 2.0})  # a later value replaces the first
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == {**attrs, "train_seconds": 2.0}


def test_set_user_attrs_refuses_a_finished_trial(tmp_path):
    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError):  # Optuna's own rule: a finished trial is never changed
        studies.set_user_attrs(study, trial._trial_id, {"late": 1})
    assert study.trials[0].user_attrs == {}
