"""Trials of another machine sharing the study: failed and re-run only once their heartbeat goes stale."""

import os
import sqlite3
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND
from hpsearch.run.study_loop import run_study
from hpsearch.spec.space import load_space
from hpsearch.store import optuna_private
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


@pytest.mark.slow
def test_a_run_waiting_on_an_unclaimed_trial_fails_it_after_its_grace_and_runs_its_values(tiny_project):
    """A kill between asking for a trial and claiming it leaves it RUNNING without an owner. The next run counts
    it as running elsewhere, waits, and once the trial is older than the grace fails it and runs its values."""
    from hpsearch.store.trials import ATTR_RETRY_OF, unclaimed_grace

    path = tiny_project(n_trials=1)
    run_study(load_space(path))
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    orphan = study.ask({"learning_rate": optuna.distributions.FloatDistribution(5e-3, 3e-2, log=True),
                        "dropout": optuna.distributions.FloatDistribution(0.1, 0.5)})
    young = unclaimed_grace(study) - 3  # too young to judge when the run starts, old enough seconds later
    with sqlite3.connect(tiny_project.root / "studies" / "hpsearch.db") as connection:
        connection.execute("UPDATE trials SET datetime_start = datetime(datetime_start, ?) WHERE trial_id = ?",
                           (f"-{young} seconds", orphan._trial_id))
    env = {**os.environ, "HPSEARCH_HEARTBEAT": "3,6"}  # beats less often than the run looks: as by default
    try:
        result = subprocess.run(COMMAND + ["run", path.name, "--n-trials", "2"], cwd=tiny_project.root, env=env,
                                capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("the run still waits on the unclaimed trial a minute later") from None
    assert result.returncode == 0, result.stderr
    assert f"trial {orphan.number} was never claimed: failed" in result.stderr + result.stdout
    trials = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage)).get_trials()
    assert trials[orphan.number].state == TrialState.FAIL
    retry = [t for t in trials if t.user_attrs.get(ATTR_RETRY_OF) == orphan.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == orphan.params


def test_an_idle_run_recovers_each_time_its_heartbeat_is_due(tiny_project, monkeypatch):
    """Waiting on other machines' trials, a run looks for abandoned ones every heartbeat interval."""
    from hpsearch.run import recovery
    from hpsearch.run.progress import Progress

    path = tiny_project(n_trials=1)
    run_study(load_space(path))
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    orphan = study.ask({"dropout": optuna.distributions.FloatDistribution(0.1, 0.5)})
    clock = [1000.0]  # the run's clock: each look sleeps IDLE_S
    monkeypatch.setattr(recovery.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(recovery.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    heartbeats = recovery.Heartbeats(study, Progress(enabled=False))
    heartbeats.beat([])  # the run beat a moment ago; the orphan is still young enough to be someone's claim
    with sqlite3.connect(tiny_project.root / "studies" / "hpsearch.db") as connection:
        connection.execute("UPDATE trials SET datetime_start = datetime(datetime_start, '-1 hour') WHERE trial_id = ?",
                           (orphan._trial_id,))
    interval = optuna_private.heartbeat_interval(study)
    for _ in range(int(interval / recovery.IDLE_S) + 1):
        heartbeats.idle()
    assert study.get_trials()[orphan.number].state == TrialState.FAIL
