"""Trials of another machine sharing the study: failed and re-run only once their heartbeat goes stale."""

import sqlite3

import optuna
from optuna.trial import TrialState

from hpsearch.run.study_loop import run_study
from hpsearch.spec.space import load_space
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_OWNER, recover


def other_host_trial(project, stale: bool):
    """A RUNNING trial owned by a process on another machine, with a fresh or a two-hour-old heartbeat."""
    path = project(n_trials=1)
    run_study(load_space(path))  # creates the study and one complete trial
    storage = storage_for(project.storage)
    study = optuna.load_study(study_name="tiny", storage=storage)
    trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(5e-3, 3e-2, log=True),
                       "dropout": optuna.distributions.FloatDistribution(0.1, 0.5)})
    storage.set_trial_user_attr(trial._trial_id, ATTR_OWNER, {"host": "another-machine", "pid": 1, "started": None})
    storage.record_heartbeat(trial._trial_id)
    if stale:
        with sqlite3.connect(project.root / "studies" / "hpsearch.db") as connection:
            connection.execute("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-2 hours') "
                               "WHERE trial_id = ?", (trial._trial_id,))
    return path, trial


def test_another_hosts_live_trial_is_left_alone(tiny_project):
    _, trial = other_host_trial(tiny_project, stale=False)
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    assert recover(study) == []  # pid 1 is not ours to judge: that machine may be busy with it
    optuna.storages.fail_stale_trials(study)
    assert study.get_trials()[trial.number].state == TrialState.RUNNING


def test_another_hosts_stale_trial_is_failed_and_run_again(tiny_project):
    path, trial = other_host_trial(tiny_project, stale=True)
    run_study(load_space(path).with_budget(n_trials=3))
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    trials = study.get_trials()
    assert trials[trial.number].state == TrialState.FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == trial.number]
    assert len(retry) == 1 and retry[0].params == trials[trial.number].params
    assert retry[0].state == TrialState.COMPLETE
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_heartbeat_settings_come_from_the_environment(monkeypatch):
    import pytest

    from hpsearch.errors import StudyError
    from hpsearch.store.trials import HEARTBEAT_GRACE_S, HEARTBEAT_INTERVAL_S, heartbeat_settings

    monkeypatch.delenv("HPSEARCH_HEARTBEAT", raising=False)
    assert heartbeat_settings() == (HEARTBEAT_INTERVAL_S, HEARTBEAT_GRACE_S)
    monkeypatch.setenv("HPSEARCH_HEARTBEAT", "1,4")
    assert heartbeat_settings() == (1, 4)
    for text in ("1", "5,2", "a,b", "0,3", "1,2,3"):
        monkeypatch.setenv("HPSEARCH_HEARTBEAT", text)
        with pytest.raises(StudyError, match="must be INTERVAL,GRACE"):
            heartbeat_settings()
