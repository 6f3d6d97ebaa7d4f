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


SECRETS = ("FILESECRET", "QUERYSECRET", "SET@SECRET", "SETSECRET")


def secret_spec(max_steps=4):
    """A space whose file and --set both name a storage URL with a password, in several forms."""
    from conftest import MADE_SPACE
    from hpsearch.space import load_text

    text = MADE_SPACE.replace("n_trials: 3", "n_trials: 3\n  storage: 'postgresql://f:FILESECRET@h/db?password=QUERYSECRET'")
    return load_text(text.replace("max_steps: 4", f"max_steps: {max_steps}"), file="s.yaml",
                     overrides=["study.storage=postgresql://u:SET@SECRET@h/db", "study.n_trials=2"])


def shows_a_secret(value) -> bool:
    import json

    text = json.dumps(value, default=str)
    return any(secret in text for secret in SECRETS)


def test_the_stored_space_holds_no_password_and_the_difference_shows_none(tmp_path):
    from hpsearch.errors import StudyError

    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db")
    study = studies.open_study(secret_spec(), storage)
    assert not shows_a_secret(study.user_attrs), study.user_attrs
    assert study.user_attrs[studies.ATTR_OVERRIDES][0] == "study.storage=postgresql://u:***@h/db"
    studies.open_study(secret_spec(), storage)  # the same space again: not taken for another one
    with pytest.raises(StudyError, match="different space") as refused:
        studies.open_study(secret_spec(max_steps=5), storage)
    assert "max_steps: 5" in str(refused.value) and not shows_a_secret(str(refused.value))
    assert not shows_a_secret(studies.load_stored_spec("made", storage).text)


def test_a_password_stored_by_an_older_hpsearch_is_masked_on_the_next_run_and_never_copied(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = studies.open_study(secret_spec(), studies.storage_for(url))
    study.set_user_attr(studies.ATTR_SPEC, secret_spec().text)  # as hpsearch wrote it before masking everything
    study.set_user_attr(studies.ATTR_OVERRIDES, list(secret_spec().overrides))
    copied = f"sqlite:///{tmp_path}/copy.db"
    studies.copy("made", url, copied)
    assert not shows_a_secret(optuna.load_study(study_name="made", storage=copied).user_attrs)
    assert shows_a_secret(study.user_attrs)  # the copy only read its source
    studies.open_study(secret_spec(), studies.storage_for(url))
    assert not shows_a_secret(optuna.load_study(study_name="made", storage=url).user_attrs)
