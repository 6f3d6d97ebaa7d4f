"""Many machines, one PostgreSQL study: run, worker, copy, the shared budget, a machine that vanishes.

Each test gets a database of its own from the `postgres` fixture ($HPSEARCH_TEST_POSTGRES); the
machines are `hpsearch` processes on this one, started side by side.
"""

import os
import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND, check_tables_read_what_optuna_reads, fill, hpsearch
from hpsearch.run.study_loop import run_study
from hpsearch.spec.space import load_space
from hpsearch.store.stored_spec import ATTR_SPEC
from hpsearch.store.studies import open_study, storage_for
from hpsearch.store.trials import ATTR_OWNER, ATTR_RETRY_OF, ATTR_STALE, intended_values


def password_of(url: str) -> str:
    import sqlalchemy

    return sqlalchemy.make_url(url).password


def trials(url: str, name: str = "tiny"):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage_for(url)).get_trials()


def test_a_study_runs_on_postgresql_and_never_prints_the_password(tiny_project, postgres):
    path = tiny_project(n_trials=2)
    result = hpsearch("run", path, "--storage", postgres, cwd=tiny_project.root)
    assert result.returncode == 0, result.stderr
    assert [t.state for t in trials(postgres)] == [TrialState.COMPLETE] * 2
    assert password_of(postgres) not in result.stdout + result.stderr
    assert "--storage postgresql://" in result.stdout and ":***@" in result.stdout


@pytest.mark.parametrize("problem", ["no study", "no tables", "wrong password"])
def test_worker_refuses_what_it_cannot_join_in_one_line(tiny_project, postgres, problem):
    url = postgres
    if problem == "no study":
        run_study(load_space(tiny_project(n_trials=1)), storage=postgres)
    if problem == "wrong password":
        url = postgres.replace(f":{password_of(postgres)}@", ":not-the-password@")
    result = hpsearch("worker", "other", "--storage", url, cwd=tiny_project.root)
    assert result.returncode == (1 if problem == "wrong password" else 2), result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert password_of(postgres) not in result.stderr and "not-the-password" not in result.stderr
    if problem == "no study":
        assert "no study 'other' in this database (it has: tiny)" in result.stderr
        assert len(trials(postgres)) == 1  # nothing changed


def test_worker_joins_from_the_stored_spec_within_the_budget(tiny_project, postgres):
    path = tiny_project(n_trials=3)
    run_study(load_space(path).with_budget(n_trials=1), storage=postgres)
    stored = optuna.load_study(study_name="tiny", storage=storage_for(postgres)).user_attrs[ATTR_SPEC]
    path.unlink()  # another machine: no YAML
    result = hpsearch("worker", "tiny", "--storage", postgres, cwd=tiny_project.root)
    assert result.returncode == 0, result.stderr
    assert "3/3 trials finished" in result.stdout
    study = optuna.load_study(study_name="tiny", storage=storage_for(postgres))
    assert study.user_attrs[ATTR_SPEC] == stored and len(study.trials) == 3
    again = hpsearch("worker", "tiny", "--storage", postgres, cwd=tiny_project.root)
    assert again.returncode == 0 and "this run: 0 trials" in again.stdout  # the budget is spent


def test_copy_moves_a_study_to_postgresql_and_back(tiny_project, postgres, tmp_path):
    path = tiny_project(n_trials=2)
    run_study(load_space(path))
    source = tiny_project.storage
    there = hpsearch("copy", "tiny", "--from", source, "--to", postgres, cwd=tiny_project.root)
    assert there.returncode == 0, there.stderr
    assert "copied study tiny (2 trials)" in there.stdout and "not copied" in there.stdout
    assert password_of(postgres) not in there.stdout + there.stderr
    copied, original = trials(postgres), trials(source)
    assert [(t.params, t.values, t.state) for t in copied] == [(t.params, t.values, t.state) for t in original]
    shown = hpsearch("show", "tiny", "--storage", postgres, cwd=tiny_project.root)
    assert shown.returncode == 0, shown.stderr
    # the copy carries its space: a worker continues it there without the YAML
    more = hpsearch("resume", "tiny", "--storage", postgres, "--n-trials", "3", cwd=tiny_project.root)
    assert more.returncode == 0, more.stderr
    assert len(trials(postgres)) == 3 and len(trials(source)) == 2
    # never over an existing study; and back to a new SQLite file
    refused = hpsearch("copy", "tiny", "--from", source, "--to", postgres, cwd=tiny_project.root)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "already exists" in refused.stderr and password_of(postgres) not in refused.stderr
    back = f"sqlite:///{tmp_path}/back.db"
    home = hpsearch("copy", "tiny", "--from", postgres, "--to", back, cwd=tiny_project.root)
    assert home.returncode == 0, home.stderr
    assert len(trials(back)) == 3
    assert hpsearch("copy", "gone", "--from", postgres, "--to", back).returncode == 2


def start(args, project, **env):
    return subprocess.Popen(COMMAND + [str(a) for a in args], cwd=project.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env={**os.environ, **env})


@pytest.mark.slow
def test_three_machines_share_one_budget(tiny_project, postgres):
    path = tiny_project(n_trials=6)
    # all three start together with `run`: one creates the study, the others join it
    machines = [start(["run", path.name, "--storage", postgres], tiny_project) for _ in range(3)]
    outputs = [m.communicate(timeout=600) for m in machines]
    assert [m.returncode for m in machines] == [0, 0, 0], [err for _, err in outputs]
    states = [t.state for t in trials(postgres)]
    finished = states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED)
    # each machine runs one trial at a time: at most the two others' can overshoot the budget
    assert 6 <= finished <= 6 + 2, states
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    print(f"3 machines, n_trials 6: {finished} finished")


@pytest.mark.slow
def test_a_machine_killed_mid_trial_has_its_trial_failed_and_run_again_elsewhere(tiny_project, postgres):
    path = tiny_project(n_trials=4)
    open_study(load_space(path), storage_for(postgres))
    heartbeat = {"HPSEARCH_HEARTBEAT": "1,5", "HPSEARCH_FAULTS": "0:hang@12"}  # trial 0 hangs: its machine dies
    # two machines: the survivor alone fills the budget, so the killed trial's re-run is always needed
    # (with two survivors, both can launch at once, overshoot the budget and stop before the beat goes stale)
    machines = [start(["worker", "tiny", "--storage", postgres], tiny_project, **heartbeat) for _ in range(2)]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        first = [t for t in trials(postgres) if t.number == 0 and t.state == TrialState.RUNNING
                 and ATTR_OWNER in t.user_attrs]
        if first and first[0].intermediate_values:
            break
        time.sleep(0.2)
    else:
        pytest.fail("trial 0 never started")
    pid = first[0].user_attrs[ATTR_OWNER]["pid"]
    victim = next(m for m in machines if m.pid == pid)
    # as if on a machine of its own: only the heartbeat can tell that it is gone
    storage_for(postgres).set_trial_user_attr(first[0]._trial_id, ATTR_OWNER, {"host": "vanished", "pid": pid})
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    outputs = [m.communicate(timeout=600) for m in machines if m is not victim]
    assert all(m.returncode == 0 for m in machines if m is not victim), [err[-2000:] for _, err in outputs]
    final = trials(postgres)
    killed = final[0]
    assert killed.state == TrialState.FAIL
    retries = [t for t in final if t.system_attrs.get("failed_trial") == 0 or t.user_attrs.get(ATTR_RETRY_OF) == 0]
    assert len(retries) == 1 and intended_values(retries[0]) == intended_values(killed)  # re-run once
    assert retries[0].user_attrs[ATTR_STALE] == "trial 0 failed: its machine (vanished) sent no heartbeat for 5 s"
    assert retries[0].state == TrialState.COMPLETE
    assert retries[0].user_attrs[ATTR_OWNER]["pid"] != pid
    states = [t.state for t in final]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) >= 4
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states


def test_studies_and_compare_read_postgresql_tables_as_optuna_does(postgres):
    check_tables_read_what_optuna_reads(fill(postgres))  # enum columns come back as names here too
    listed = hpsearch("studies", "--storage", postgres)
    compared = hpsearch("compare", "one", "--storage", postgres)
    assert listed.returncode == 0 and "one" in listed.stdout and "two" in listed.stdout, listed.stderr
    assert compared.returncode == 0 and "saved by pruning" in compared.stdout, compared.stderr
