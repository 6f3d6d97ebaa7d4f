"""Chaos: SIGKILL the study process at random moments, resume each time, and lose nothing."""

import os
import random
import signal
import sqlite3
import subprocess
import time

import pytest
from optuna.trial import TrialState

from helpers import COMMAND, stored_trials
from hpsearch.store.trials import ATTR_RERUN, ATTR_RETRY_OF, intended_values

KILLS = 10
N_TRIALS = 24


@pytest.mark.slow
def test_ten_random_sigkills_lose_nothing(tiny_project):
    seed = int(os.environ.get("HPSEARCH_CHAOS_SEED", "0"))
    rng = random.Random(seed)
    path = tiny_project(n_trials=N_TRIALS)
    completed: dict[int, float] = {}
    kills = 0
    while kills < KILLS:
        process = subprocess.Popen(COMMAND + ["run", path.name], cwd=tiny_project.root, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        # Wait until this run has started a trial, then strike at a random moment: between trials,
        # mid-trial, or while the database is being written.
        started = time.monotonic()
        while time.monotonic() - started < 120 and process.poll() is None:
            if any(t.state == TrialState.RUNNING for t in stored_trials(tiny_project.storage)):
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.5))
        if process.poll() is not None:
            break  # the study finished before this kill: fewer kills, still a valid run
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        for trial in stored_trials(tiny_project.storage):
            if trial.state == TrialState.COMPLETE:
                assert completed.setdefault(trial.number, trial.value) == trial.value
    final = subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    trials = stored_trials(tiny_project.storage)
    states = [t.state for t in trials]
    assert kills == KILLS
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == N_TRIALS, (seed, states)
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    by_number = {t.number: t for t in trials}
    for number, value in completed.items():  # every completed trial kept, never re-run
        assert by_number[number].state == TrialState.COMPLETE and by_number[number].value == value
    retries = {t.user_attrs.get(ATTR_RETRY_OF): t for t in trials if ATTR_RETRY_OF in t.user_attrs}
    for trial in trials:
        if trial.state == TrialState.FAIL:
            assert trial.user_attrs.get(ATTR_RERUN), trial.user_attrs  # only interruptions here
            values = intended_values(trial)
            if values:  # killed before it sampled anything: there is nothing of it to run again
                assert intended_values(retries[trial.number]) == values  # its values ran again
    db = tiny_project.root / "studies" / "hpsearch.db"
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"chaos seed {seed}: {kills} kills survived, {len(trials)} trials, "
          f"{states.count(TrialState.FAIL)} interrupted and re-run")
