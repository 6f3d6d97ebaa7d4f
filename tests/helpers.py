"""Plain helpers shared by test modules (fixtures live in conftest.py): the CLI in this process (`cli`) or as a
process of its own (`hpsearch`), a study as stored (`load_study`), and a database filled through Optuna directly
that the fast readers are checked against."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpsearch.store.tables import Tables

ROOT = Path(__file__).resolve().parents[1]  # the repository
COMMAND = [shutil.which("hpsearch")] if shutil.which("hpsearch") else [sys.executable, "-m", "hpsearch"]


def hpsearch(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """The installed `hpsearch` command in a process of its own, as a user runs it, its output captured: for what
    needs one (signals, pipes, kill -9, what a fresh process imports). Anything else: `cli`."""
    return subprocess.run(COMMAND + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@dataclass
class Ran:
    """What `cli` saw: the exit code and the two streams apart (the attributes of subprocess.CompletedProcess)."""

    returncode: int
    stdout: str
    stderr: str


def cli(*args, cwd=None) -> Ran:
    """`hpsearch ARGS` in this process (typer's CliRunner, through the app's error boundary), run in `cwd`.

    An exception that escapes the app is a traceback on stderr and exit code 1, as the command would show it.
    """
    from typer.testing import CliRunner

    from hpsearch.cli import app

    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, [str(a) for a in args], prog_name="hpsearch")
    finally:
        os.chdir(before)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)


def load_study(storage: str, name: str = "tiny") -> optuna.Study:
    """Study `name` as the database at `storage` holds it now (KeyError before it exists)."""
    from hpsearch.store.studies import storage_for

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage_for(storage))


def fill(url: str) -> str:
    """Two studies written through Optuna: one maximized with every state, one with two objectives."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="one", storage=url, direction="maximize")
    study.set_user_attr("metric", "eval_accuracy")
    distributions = {"lr": FloatDistribution(1e-5, 1e-2, log=True), "layers": IntDistribution(1, 4),
                     "schedule": CategoricalDistribution(["linear", "cosine"])}
    for number, state in enumerate([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]):
        params = {"lr": 10 ** -(number + 2), "layers": number + 1, "schedule": ["linear", "cosine"][number % 2]}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=distributions, state=state,
            value=0.5 + number / 10 if state == TrialState.COMPLETE else None,
            user_attrs={"train_seconds": 2.5 * number, "stop_step": 10, "config": {"ignored": True},
                        "feasible": number != 3},
            intermediate_values={10: 0.4} if state == TrialState.PRUNED else None))
    study.enqueue_trial({"lr": 1e-3})  # a WAITING trial without values or parameters
    optuna.create_study(study_name="two", storage=url, directions=["minimize", "maximize"])
    return url


def check_tables_read_what_optuna_reads(url: str) -> None:
    """Every reader of Tables against Optuna's own view of the studies `fill` wrote."""
    tables = Tables.open(url)
    stored = {s.name: s for s in tables.studies()}
    assert list(stored) == ["one", "two"]
    assert stored["one"].directions == ["maximize"] and stored["one"].user_attrs == {"metric": "eval_accuracy"}
    assert stored["two"].directions == ["minimize", "maximize"]
    one = stored["one"].study_id
    light = tables.light_trials(one)
    trials = optuna.load_study(study_name="one", storage=url).trials
    assert [t.number for t in light] == [t.number for t in trials]
    for mine, theirs in zip(light, trials, strict=True):
        assert mine.state == theirs.state.name
        assert mine.value == (theirs.values[0] if theirs.values else None)
        assert mine.params == theirs.params and mine.distributions == theirs.distributions
        assert set(mine.user_attrs) <= {"train_seconds", "stop_step", "feasible"}  # only what compare reads
        assert all(mine.user_attrs[k] == theirs.user_attrs[k] for k in mine.user_attrs)
    assert tables.counts()[one] == {"COMPLETE": 2, "PRUNED": 1, "FAIL": 1, "WAITING": 1}
    assert tables.value_range()[one] == (0.5, 0.5)  # the 0.8 trial is infeasible
    assert one in tables.last_activity()


def laughs(levels: int, width: int = 9) -> str:
    """A billion-laughs file: each anchor holds `width` aliases of the one before."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


class ExitsWhenLookedAt:
    """A worker that sends `message` and exits at the moment the study process checks whether it lives
    ."""

    def __init__(self, conn, message, exitcode=0):
        self.conn, self.message, self.exitcode = conn, message, exitcode

    def is_alive(self):
        if self.conn is not None:
            if self.message is not None:
                self.conn.send(self.message)
            self.conn.close()
            self.conn = None
        return False

    def join(self, timeout=None):
        pass


def stored_trials(storage: str, name: str = "tiny") -> list:
    """The trials of study `name` as the database holds them now ([] before the study exists)."""
    try:
        return load_study(storage, name).get_trials()
    except KeyError:
        return []


def wait_for_trials(storage: str, condition, name: str = "tiny", timeout: float = 300) -> None:
    """Look at the trials of study `name` every 0.1 s until `condition(trials)` holds (a run started elsewhere)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition(stored_trials(storage, name)):
            return
        time.sleep(0.1)
    raise AssertionError("the study never got there")
