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


def test_copy_prints_its_own_lines_only(made_study):
    import subprocess

    from test_cli import COMMAND

    source, destination = "sqlite:///studies/hpsearch.db", f"sqlite:///{made_study}/copy.db"
    result = subprocess.run(COMMAND + ["copy", "made", "--from", source, "--to", destination], capture_output=True,
                            text=True, cwd=made_study, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not Optuna's "[I ...] A new study created in RDB with name: made"
    assert result.stdout.startswith("copied study made (4 trials)")
    assert len(optuna.load_study(study_name="made", storage=destination).trials) == 4
