"""Known configurations end to end: `study.start_with:` and `--start-with best.json` through the real CLI,
across a kill -9 and with two processes on one study."""

import json
import os
import signal
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND, wait_for_trials
from hpsearch.store.known import START_WITH
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_RETRY_OF

KNOWN = "start_with:\n    - {learning_rate: 1.0e-2, dropout: 0.2}\n    - {learning_rate: 2.0e-2}\n  sampler:"


def known_project(project, n_trials, max_steps=30):
    path = project(n_trials=n_trials)
    path.write_text(path.read_text().replace("sampler:", KNOWN, 1).replace("max_steps: 30", f"max_steps: {max_steps}"))
    return path


def trials_of(project, name="tiny"):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage_for(project.storage)).get_trials()


def run(project, *args):
    return subprocess.run(COMMAND + ["run", *args], cwd=project.root, capture_output=True, text=True, timeout=600)


def marked(trials, label):
    return [t for t in trials if t.user_attrs.get(START_WITH) == label]


@pytest.mark.slow
def test_known_configurations_survive_a_kill_9_and_run_once(tiny_project):
    path = known_project(tiny_project, n_trials=3, max_steps=60)
    process = subprocess.Popen(COMMAND + ["run", path.name], cwd=tiny_project.root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_trials(tiny_project.storage, lambda ts: len(ts) > 1 and ts[0].state == TrialState.COMPLETE
                    and ts[1].state == TrialState.RUNNING and ts[1].intermediate_values)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    result = run(tiny_project, path.name)
    assert result.returncode == 0, result.stderr
    assert "to run first" not in result.stderr  # the configurations were queued once, by the first run
    after = trials_of(tiny_project)
    first, second = marked(after, "study.start_with.0"), marked(after, "study.start_with.1")
    assert [t.state for t in first] == [TrialState.COMPLETE]  # ran before the kill, never again
    assert [t.state for t in second] == [TrialState.FAIL, TrialState.COMPLETE]  # interrupted, re-run once
    assert second[1].user_attrs[ATTR_RETRY_OF] == second[0].number and second[1].params == second[0].params
    assert first[0].params == {"learning_rate": 1e-2, "dropout": 0.2} and second[1].params["learning_rate"] == 2e-2
    assert [t.state for t in after].count(TrialState.COMPLETE) == 3  # the budget counts them: one sampled trial
    shown = subprocess.run(COMMAND + ["show", "tiny"], cwd=tiny_project.root, capture_output=True, text=True)
    assert "trial 0 (study.start_with.0, complete)" in shown.stdout


@pytest.mark.slow
def test_two_processes_on_one_new_study_run_each_configuration_once(tiny_project):
    path = known_project(tiny_project, n_trials=4)
    processes = [subprocess.Popen(COMMAND + ["run", path.name], cwd=tiny_project.root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    after = trials_of(tiny_project)
    # two processes that start a trial at the same instant may overshoot n_trials by one (README, "Beyond one
    # machine"); what must hold is that each known configuration ran once
    assert [t.state for t in after].count(TrialState.COMPLETE) in (4, 5)
    for label in ("study.start_with.0", "study.start_with.1"):
        assert [t.state for t in marked(after, label)] == [TrialState.COMPLETE]


@pytest.mark.slow  # about 8 `hpsearch` processes end to end: 20-35 s
def test_start_with_the_best_of_another_study(tiny_project):
    path = tiny_project(n_trials=1)
    assert run(tiny_project, path.name).returncode == 0
    best = subprocess.run(COMMAND + ["best", "tiny", "-f", "json", "-o", "best.json"], cwd=tiny_project.root,
                          capture_output=True, text=True)
    assert best.returncode == 0, best.stderr
    winner = json.loads((tiny_project.root / "best.json").read_text())["config"]
    other = tiny_project(n_trials=2, name="other.yaml")
    other.write_text(other.read_text().replace("name: tiny", "name: other").replace("  dropout: documented\n", ""))

    dry = run(tiny_project, other.name, "--start-with", "best.json", "--dry-run")
    assert dry.returncode == 0 and f"{winner['learning_rate']:.4g}" in dry.stdout
    result = run(tiny_project, other.name, "--start-with", "best.json")
    assert result.returncode == 0, result.stderr
    assert "queued best.json to run first" in result.stderr
    ran = trials_of(tiny_project, "other")
    assert ran[0].params == {"learning_rate": winner["learning_rate"]} and ran[0].user_attrs[START_WITH] == "best.json"
    assert START_WITH not in ran[1].user_attrs


@pytest.mark.no_training
def test_bad_known_configurations_touch_nothing(tiny_project):
    path = tiny_project(n_trials=1)
    path.write_text(path.read_text().replace("sampler:", "start_with: [{learning_rate: 0.5}]\n  sampler:"))
    result = run(tiny_project, path.name)
    assert result.returncode == 2
    assert result.stderr.strip() == ("space.yaml:5: study.start_with.0.learning_rate: (0.5) lies outside the searched "
                                     "range 0.005 .. 0.03 log")
    good = tiny_project(n_trials=1)
    (tiny_project.root / "best.json").write_text("{}")
    result = run(tiny_project, good.name, "--start-with", "best.json")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "best.json: is not what `hpsearch best NAME -f json` writes" in result.stderr
    assert not (tiny_project.root / "studies").exists()


@pytest.mark.no_training
def test_a_hostile_start_with_file_is_one_line_and_touches_nothing(tiny_project):
    good = tiny_project(n_trials=1)
    root = tiny_project.root
    (root / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(root / "fifo.json")
    (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    for name, message in (("zero.json", "is not a regular file"), ("fifo.json", "is not a regular file"),
                          ("deep.json", "is nested too deeply")):
        result = subprocess.run(COMMAND + ["run", good.name, "--start-with", name], cwd=root, capture_output=True,
                                text=True, timeout=60)  # a pipe or /dev/zero read to the end never returns
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(name), result.stderr[-2000:]
        assert message in lines[0]
    assert not (root / "studies").exists()
