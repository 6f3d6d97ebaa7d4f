"""Warm start end to end: `study.warm_start:` through the real CLI; the history informs the sampler, the views
show only the study's own trials, and a kill -9 or a second process loses nothing."""

import json
import os
import re
import signal
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND, wait_for_trials
from hpsearch.store.history import FROM
from hpsearch.store.studies import storage_for

RANDOM = "  sampler: {name: random, seed: 0}"
WARM = "  warm_start: {from: [tiny]}\n  sampler: {name: tpe, seed: 0}"


def warm_project(project, name="warm", n_trials=2, warm=WARM, low="8.0e-3", max_steps=30):
    """A study `name` of a narrower learning_rate range than tiny's, warm-started from it."""
    path = project(n_trials=n_trials, name=f"{name}.yaml")
    path.write_text(path.read_text().replace("name: tiny", f"name: {name}").replace(RANDOM, warm)
                    .replace("low: 5.0e-3", f"low: {low}").replace("max_steps: 30", f"max_steps: {max_steps}"))
    return path


def trials_of(project, name):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage_for(project.storage)).get_trials()


def cli(project, *args):
    return subprocess.run(COMMAND + list(args), cwd=project.root, capture_output=True, text=True, timeout=600)


def run_source(project, n_trials=4):
    assert cli(project, "run", project(n_trials=n_trials).name).returncode == 0
    inside = [t for t in trials_of(project, "tiny") if t.params["learning_rate"] >= 8e-3]
    return len(inside), 4 - len(inside)


@pytest.mark.slow  # about 8 `hpsearch` processes end to end: 20-35 s
def test_history_informs_the_sampler_and_only_the_studys_own_trials_count(tiny_project):
    used, skipped = run_source(tiny_project)
    assert used and skipped  # the narrower range takes some of tiny's trials and leaves others

    dry = cli(tiny_project, "run", warm_project(tiny_project).name, "--dry-run")
    assert f"warm start: {used} trials of study tiny inform the sampler" in dry.stdout
    result = cli(tiny_project, "run", warm_project(tiny_project).name)
    assert result.returncode == 0, result.stderr
    assert (f"warm start: {used} trials of study tiny inform the sampler; {skipped} skipped: learning_rate outside "
            f"this space ({skipped})") in result.stderr
    warm = trials_of(tiny_project, "warm")
    assert [t.state for t in warm] == [TrialState.COMPLETE] * 2  # the budget counts only the study's own trials
    assert not any(FROM in t.user_attrs for t in warm)

    shown = cli(tiny_project, "show", "warm")
    assert f"warm-started from tiny ({used} trials used)" in shown.stdout and "complete 2" in shown.stdout
    best = json.loads(cli(tiny_project, "best", "warm", "-f", "json").stdout)
    assert best["trial"] in (0, 1)
    exported = cli(tiny_project, "export", "warm", "-o", "warm.csv")
    assert exported.returncode == 0, exported.stderr
    assert len((tiny_project.root / "warm.csv").read_text().strip().splitlines()) == 1 + 2
    assert re.search(r"\bwarm\b.*\b2\b", cli(tiny_project, "studies").stdout)

    # the history decides: the same file without it samples other values (with it, the same: the kill test)
    cold = warm_project(tiny_project, "cold", warm="  sampler: {name: tpe, seed: 0}")
    assert cli(tiny_project, "run", cold.name).returncode == 0
    assert [t.params for t in trials_of(tiny_project, "cold")] != [t.params for t in warm]


@pytest.mark.parametrize("source, line", [
    ("olds", "warm.yaml:5: study.warm_start.from.0: no study 'tiny' in sqlite:///"),
    ("tiny-minimize", "warm.yaml:5: study.warm_start.from.0: study tiny optimizes minimize, this study maximize: "
                      "warm start needs the same direction"),
])
@pytest.mark.no_training
def test_a_source_that_cannot_inform_touches_nothing(tiny_project, source, line):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name, _, direction = source.partition("-")
    optuna.create_study(study_name=name, storage=storage_for(tiny_project.storage), direction=direction or "maximize")
    for dry in (["--dry-run"], []):  # a dry run reads the sources too, and fails the same way
        result = cli(tiny_project, "run", warm_project(tiny_project).name, *dry)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith(line)
    assert [s.study_name for s in optuna.get_all_study_summaries(storage_for(tiny_project.storage))] == [name]
    assert not (tiny_project.root / "studies" / "models").exists()  # no folder of the warm study either


@pytest.mark.slow
def test_a_warm_started_study_survives_a_kill_9(tiny_project):
    used, _ = run_source(tiny_project)
    path = warm_project(tiny_project, n_trials=3, max_steps=60)
    process = subprocess.Popen(COMMAND + ["run", path.name], cwd=tiny_project.root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_trials(tiny_project.storage, lambda ts: len(ts) > 1 and ts[0].state == TrialState.COMPLETE
                    and ts[1].state == TrialState.RUNNING and ts[1].intermediate_values, name="warm")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    result = cli(tiny_project, "run", path.name)
    assert result.returncode == 0, result.stderr
    assert f"warm start: {used} trials of study tiny inform the sampler" in result.stderr  # rebuilt at the start
    after = trials_of(tiny_project, "warm")
    assert [t.state for t in after].count(TrialState.COMPLETE) == 3  # the history never counts in the budget
    assert after[1].state == TrialState.FAIL and after[2].params == after[1].params  # re-run with its values
    # the same decisions as a study that ran in one go, as far as trial numbers allow (trial 0 before the kill)
    assert cli(tiny_project, "run", warm_project(tiny_project, "one-go", n_trials=3, max_steps=60).name).returncode == 0
    one_go = trials_of(tiny_project, "one-go")
    assert [t.params for t in one_go[:2]] == [after[0].params, after[1].params]


@pytest.mark.slow
def test_two_processes_on_one_warm_started_study_both_use_the_history(tiny_project):
    used, _ = run_source(tiny_project)
    path = warm_project(tiny_project, n_trials=4)
    processes = [subprocess.Popen(COMMAND + ["run", path.name], cwd=tiny_project.root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        assert f"warm start: {used} trials of study tiny inform the sampler" in err
    after = trials_of(tiny_project, "warm")
    # two processes that start a trial at the same instant may overshoot n_trials by one (README)
    assert [t.state for t in after].count(TrialState.COMPLETE) in (4, 5)
    assert not any(FROM in t.user_attrs for t in after)
