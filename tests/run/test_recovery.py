"""Trials of another machine sharing the study: failed and re-run only once their heartbeat goes stale."""

import os
import sqlite3
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND
from hpsearch.run.study_loop import run_study
from hpsearch.run.targets import ZERO_COST
from hpsearch.spec.space import load_space
from hpsearch.store import optuna_private
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_OWNER, recover


def other_host_trial(project, stale: bool):
    """A RUNNING trial owned by a process on another machine, with a fresh or a two-hour-old heartbeat."""
    path = project(n_trials=1)
    run_study(load_space(path), target=ZERO_COST)  # creates the study and one complete trial
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


def test_another_hosts_live_trial_is_left_alone(zero_project):
    _, trial = other_host_trial(zero_project, stale=False)
    study = optuna.load_study(study_name="tiny", storage=storage_for(zero_project.storage))
    assert recover(study) == []  # pid 1 is not ours to judge: that machine may be busy with it
    optuna.storages.fail_stale_trials(study)
    assert study.get_trials()[trial.number].state == TrialState.RUNNING


def test_another_hosts_stale_trial_is_failed_and_run_again(zero_project):
    path, trial = other_host_trial(zero_project, stale=True)
    run_study(load_space(path).with_budget(n_trials=3), target=ZERO_COST)
    study = optuna.load_study(study_name="tiny", storage=storage_for(zero_project.storage))
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


def test_an_idle_run_recovers_each_time_its_heartbeat_is_due(zero_project, monkeypatch):
    """Waiting on other machines' trials, a run looks for abandoned ones every heartbeat interval."""
    from hpsearch.run import recovery
    from hpsearch.run.progress import Progress

    path = zero_project(n_trials=1)
    run_study(load_space(path), target=ZERO_COST)
    study = optuna.load_study(study_name="tiny", storage=storage_for(zero_project.storage))
    orphan = study.ask({"dropout": optuna.distributions.FloatDistribution(0.1, 0.5)})
    clock = [1000.0]  # the run's clock: each look sleeps IDLE_S
    monkeypatch.setattr(recovery.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(recovery.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    heartbeats = recovery.Heartbeats(study, Progress(enabled=False))
    heartbeats.beat([])  # the run beat a moment ago; the orphan is still young enough to be someone's claim
    with sqlite3.connect(zero_project.root / "studies" / "hpsearch.db") as connection:
        connection.execute("UPDATE trials SET datetime_start = datetime(datetime_start, '-1 hour') WHERE trial_id = ?",
                           (orphan._trial_id,))
    interval = optuna_private.heartbeat_interval(study)
    for _ in range(int(interval / recovery.IDLE_S) + 1):
        heartbeats.idle()
    assert study.get_trials()[orphan.number].state == TrialState.FAIL


def container_trial(made_study, owner: dict, stale: bool = False):
    """The made study with a RUNNING trial claimed by `owner` (beaten now, or two hours ago), and that trial."""
    storage = storage_for(f"sqlite:///{made_study}/studies/hpsearch.db")
    study = optuna.load_study(study_name="made", storage=storage)
    trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
    optuna_private.set_trial_user_attrs(study, trial, {ATTR_OWNER: owner}, beat=True)
    if stale:
        with sqlite3.connect(made_study / "studies" / "hpsearch.db") as connection:
            connection.execute("UPDATE trial_heartbeats SET heartbeat = datetime('now', '-2 hours') "
                               "WHERE trial_id = ?", (trial._trial_id,))
    return study, trial


def gone_pid() -> int:
    """The pid of a process of this namespace that has exited."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def beat(study) -> None:
    from hpsearch.run.progress import Progress
    from hpsearch.run.recovery import Heartbeats

    Heartbeats(study, Progress(enabled=False)).beat([])  # what a run does every interval: stale trials fail


def test_a_live_trial_of_another_container_on_this_host_is_left_running(made_study):
    """Containers of one host share its hostname but not its pids: pid 2 there is no pid here."""
    from hpsearch.store.trials import owner_record

    owner = {**owner_record(), "pid": gone_pid(), "pid_namespace": "pid:[4026530000]"}
    study, trial = container_trial(made_study, owner)
    assert recover(study) == []
    beat(study)
    assert study.get_trials()[trial.number].state == TrialState.RUNNING
    assert [t.state for t in study.get_trials()].count(TrialState.WAITING) == 0  # nothing queued behind its back


def test_a_trial_of_another_container_whose_heartbeat_went_stale_is_failed_and_queued(made_study):
    from hpsearch.store.trials import ATTR_STALE, owner_record

    owner = {**owner_record(), "pid": gone_pid(), "pid_namespace": "pid:[4026530000]"}
    study, trial = container_trial(made_study, owner, stale=True)
    assert recover(study) == []  # not by its pid ...
    assert study.get_trials()[trial.number].state == TrialState.RUNNING
    beat(study)  # ... by its heartbeat
    trials = study.get_trials()
    assert trials[trial.number].state == TrialState.FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == trial.number]
    assert len(retry) == 1 and retry[0].state == TrialState.WAITING and "sent no heartbeat" in retry[0].user_attrs[
        ATTR_STALE]


def test_a_trial_of_a_gone_process_is_failed_by_its_pid_whether_or_not_its_record_names_a_namespace(made_study):
    """This process's namespace and boot, or an older record without them: its pid is judged here."""
    from hpsearch.store.trials import ATTR_REASON, owner_record

    here = {**owner_record(), "pid": gone_pid()}
    older = {key: here[key] for key in ("host", "pid", "started")}
    for owner in (here, older):
        study, trial = container_trial(made_study, owner)
        assert recover(study)[0] == f"trial {trial.number} was left running by a process that is gone: failed, re-queued"
        assert study.get_trials()[trial.number].user_attrs[ATTR_REASON] == (
            f"interrupted: the process that ran it (pid {owner['pid']}) is gone")


def test_a_trial_of_another_boot_of_this_host_is_judged_by_its_heartbeat(made_study):
    """The same hostname on another boot id: another machine named alike (or this one before a reboot, whose
    heartbeat is stale by now)."""
    from hpsearch.store.trials import owner_record

    study, trial = container_trial(made_study, {**owner_record(), "pid": gone_pid(), "boot": "another-boot"})
    assert recover(study) == []
    assert study.get_trials()[trial.number].state == TrialState.RUNNING
