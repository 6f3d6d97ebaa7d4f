"""A custom task end to end: the user's own training function run by the real `hpsearch` command, in the same
worker processes as built-in trials, through crashes, faults, pruning, kills, Ctrl-C and confirm."""

import os
import shutil
import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND, ROOT, hpsearch, stored_trials, wait_for_trials
from hpsearch.run.confirm import ATTR_CONFIRM
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_REASON, ATTR_RETRY_OF
from hpsearch.trial import TRACEBACK

TRAIN = '''
import time

def main(config, reporter):
    """Reports x * step at each step; sleeps between reports when asked to (a long trial)."""
    for step in range(1, config["n_steps"] + 1):
        time.sleep(config.get("pause", 0))
        if reporter.report(step, {"score": config["x"] * step, "seed": reporter.seed}):
            break
    (reporter.save_dir / "model.txt").write_text(str(config["x"]))

def crash_in_trial_1(config, reporter):
    reporter.report(1, {"score": config["x"]})
    if reporter.trial == 1:
        helper_that_fails()

def helper_that_fails():
    raise RuntimeError("boom in the user's code")

def one_argument(config):
    pass

def interrupted(config, reporter):
    reporter.report(1, {"score": config["x"]})
    raise KeyboardInterrupt

def starts_a_child(config, reporter):
    """Starts `sleep 300` (its pid in child-N.pid), reports once, then hangs unless pruned."""
    import pathlib, subprocess
    child = subprocess.Popen(["sleep", "300"])
    pathlib.Path(f"child-{reporter.trial}.pid").write_text(str(child.pid))
    if reporter.report(1, {"score": config["x"]}):
        return
    time.sleep(300)

def step_beyond_the_database(config, reporter):
    reporter.report(1, {"score": config["x"]})
    if reporter.trial == 0:
        reporter.report(10**30, {"score": config["x"]})

def chatty(config, reporter):
    """Prints at each step, to stdout and stderr, as a training loop may."""
    import sys
    for step in range(1, config["n_steps"] + 1):
        print(f"step {step}: {config['x'] * step}", flush=True)
        print("a warning", file=sys.stderr, flush=True)
        time.sleep(config.get("pause", 0))
        reporter.report(step, {"score": config["x"] * step})
'''

SPACE = """
study:
  name: own
  metric: score
  direction: maximize
  n_trials: {n_trials}
  sampler: {{name: random, seed: 0}}
  pruner: {pruner}
task:
  type: custom
  entry: train.py:{function}
fixed:
  n_steps: {n_steps}
  pause: {pause}
space:
  x: {{type: float, low: 0.1, high: 1.0}}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text(TRAIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)

    def write(n_trials=3, function="main", pruner="none", n_steps=3, pause=0):
        path = tmp_path / "space.yaml"
        path.write_text(SPACE.format(n_trials=n_trials, function=function, pruner=pruner, n_steps=n_steps,
                                     pause=pause))
        return path

    write.root = tmp_path
    return write


def trials(root, name="own"):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage_for(f"sqlite:///{root}/studies/hpsearch.db")).trials


def test_a_custom_study_runs_keeps_the_best_model_and_resumes_nothing_twice(project):
    project(n_trials=3)
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 0, result.stderr
    done = trials(project.root)
    assert [t.state for t in done] == [TrialState.COMPLETE] * 3
    for t in done:  # the best report is the value: x * 3 at step 3
        assert t.value == pytest.approx(t.params["x"] * 3) and t.user_attrs["best_step"] == 3
        assert t.user_attrs["config"] == {"n_steps": 3, "pause": 0, "x": t.params["x"]}
        assert t.user_attrs["history"] == [[s, pytest.approx(t.params["x"] * s)] for s in (1, 2, 3)]
    best = max(done, key=lambda t: t.value)
    kept = project.root / "studies" / "models" / "hpsearch.db" / "own"
    assert [p.name for p in kept.iterdir()] == [f"trial-{best.number}"]  # save: best keeps the best trial's only
    assert (kept / f"trial-{best.number}" / "model.txt").read_text() == str(best.params["x"])
    shown = hpsearch("show", "own", cwd=project.root).stdout
    assert "custom on train.py:main" in shown and "priors: none" in shown and "fine-tuning" not in shown
    args = hpsearch("best", "own", "-f", "args", cwd=project.root)
    assert args.returncode == 2 and "custom training function does not take" in args.stderr and not args.stdout
    assert hpsearch("best", "own", "-f", "json", cwd=project.root).returncode == 0
    again = hpsearch("run", "space.yaml", cwd=project.root)
    assert again.returncode == 0 and len(trials(project.root)) == 3  # the budget is spent: nothing re-runs


@pytest.mark.slow
def test_two_runs_on_one_study_never_remove_a_folder_a_trial_writes_then_resume_elsewhere_keeps_it(project):
    """Two `hpsearch run` processes a second apart on one study, each trial writing its model at its end;
    then the study resumed from another folder through the database's absolute URL."""
    project(n_trials=8, pause=0.3)
    first = subprocess.Popen(COMMAND + ["run", "space.yaml"], cwd=project.root, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    second = hpsearch("run", "space.yaml", cwd=project.root, timeout=300)
    assert first.wait(timeout=300) == 0 and second.returncode == 0, (first.stderr.read(), second.stderr)
    done = trials(project.root)
    assert [t.state for t in done] == [TrialState.COMPLETE] * 8, [t.user_attrs.get("fail_reason") for t in done]
    kept = project.root / "studies" / "models" / "hpsearch.db" / "own"
    best = max(done, key=lambda t: t.value)
    assert [p.name for p in kept.iterdir()] == [f"trial-{best.number}"]
    assert best.user_attrs["model_dir"] == str(kept / f"trial-{best.number}")
    (project.root / "elsewhere").mkdir()
    url = f"sqlite:///{project.root}/studies/hpsearch.db"
    result = hpsearch("resume", "own", "--storage", url, "--n-trials", "10", cwd=project.root / "elsewhere")
    assert result.returncode == 0, result.stderr
    best = max(trials(project.root), key=lambda t: t.value)
    assert [p.name for p in kept.iterdir()] == [f"trial-{best.number}"]
    assert (kept / f"trial-{best.number}" / "model.txt").exists() and not (project.root / "elsewhere" / "studies").exists()


def test_a_crash_in_user_code_fails_one_trial_with_its_traceback(project):
    project(n_trials=3, function="crash_in_trial_1")
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 0, result.stderr
    done = trials(project.root)
    assert [t.state for t in done] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    failed = done[1]
    assert failed.user_attrs[ATTR_REASON] == "RuntimeError: boom in the user's code"
    assert "train.py\", line 18, in helper_that_fails" in failed.user_attrs[TRACEBACK]
    assert "trial 1 fail (RuntimeError: boom" in result.stderr and "boom in the user's code" in result.stderr


def test_nan_in_a_value_of_the_function_s_own_is_refused_on_one_line(project):
    space = project()
    bad = hpsearch("validate", space, "--set", "fixed.foo=.nan")
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"{space} --set: fixed.foo: must be a finite number, but got nan"


@pytest.mark.slow
def test_a_step_beyond_what_the_database_stores_fails_its_trial_not_the_study(project):
    project(n_trials=1, function="step_beyond_the_database")
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 0, result.stderr
    done = trials(project.root)
    assert [t.state for t in done] == [TrialState.FAIL, TrialState.COMPLETE]
    assert done[0].user_attrs[ATTR_REASON] == (
        "ValueError: reporter.report: step 1000000000000000000000000000000 is out of range: a step is a whole number "
        "from 0 to 2147483647 (the study's database stores it as a 32-bit integer)")
    assert done[1].intermediate_values == {1: pytest.approx(done[1].params["x"])}
    project(n_trials=2, function="step_beyond_the_database")
    again = hpsearch("run", "space.yaml", cwd=project.root)
    assert again.returncode == 0, again.stderr
    assert [t.state for t in trials(project.root)].count(TrialState.COMPLETE) == 2


def test_faults_and_the_pruner_act_on_custom_trials(project, monkeypatch):
    monkeypatch.setenv("HPSEARCH_FAULTS", "0:segfault@1,1:raise@1")
    project(n_trials=3, pruner="{name: threshold, lower: 1.0}", n_steps=4)  # x * 1 < 1: pruned at step 1
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 0, result.stderr
    done = trials(project.root)
    assert done[0].user_attrs[ATTR_REASON] == "the trial's process was killed by SIGSEGV"
    assert done[1].user_attrs[ATTR_REASON] == "RuntimeError: injected fault in the model at step 1"
    assert [t.state for t in done[2:]] == [TrialState.PRUNED] * 3
    assert all(t.user_attrs["stop_reason"] == "pruned" and t.user_attrs["stop_step"] == 1 for t in done[2:])


def test_a_training_loop_may_start_processes_of_its_own(project):
    """A DataLoader with workers: the trial's process may have children (a daemon may not)."""
    (project.root / "loader.py").write_text(
        "import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n\n"
        "def main(config, reporter):\n"
        "    data = TensorDataset(torch.arange(64.0).unsqueeze(1))\n"
        "    total = sum(b.sum().item() for (b,) in DataLoader(data, batch_size=16, num_workers=2))\n"
        "    reporter.report(1, {'score': total * config['x']})\n")
    project(n_trials=1)
    path = project.root / "space.yaml"
    path.write_text(path.read_text().replace("train.py:main", "loader.py:main"))
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 0, result.stderr
    (trial,) = trials(project.root)
    assert trial.state == TrialState.COMPLETE and trial.value == pytest.approx(2016 * trial.params["x"])


def test_a_closed_output_pipe_stops_nothing(project):
    """`hpsearch run space.yaml 2>&1 | head -2`: once the reader has gone, the study and the trials that print run
    to their end, silently."""
    project(n_trials=3, function="chatty", pause=0.2)
    process = subprocess.Popen(COMMAND + ["run", "space.yaml"], cwd=project.root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    first = [process.stdout.readline() for _ in range(2)]
    process.stdout.close()
    assert process.wait(timeout=120) == 0, first
    assert [(t.state, t.user_attrs.get(ATTR_REASON)) for t in trials(project.root)] == [(TrialState.COMPLETE, None)] * 3


@pytest.mark.parametrize("function, file_text, expected", [
    ("one_argument", None, "task.entry: one_argument(config) cannot be called as one_argument(config, reporter): "
                           "give it the signature def one_argument(config, reporter)"),
    ("absent", None, "task.entry: train.py has no function absent"),
    ("main", "import numpy\nimport not_installed_anywhere\n",
     "task.entry: cannot import train.py: ModuleNotFoundError: No module named 'not_installed_anywhere'"),
])
def test_a_bad_entry_exits_2_on_one_line_before_any_study_exists(project, function, file_text, expected):
    project(function=function)
    if file_text:
        (project.root / "train.py").write_text(file_text)
    commands = [["run", "space.yaml"]] + ([["run", "space.yaml", "--dry-run"]] if function == "one_argument" else [])
    for command in commands:
        result = hpsearch(*command, cwd=project.root)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()  # one line: the file, the line, the key, the reason
        assert line.startswith(f"space.yaml:11: {expected}"), line
    assert not (project.root / "studies").exists()


@pytest.mark.slow
def test_the_shipped_pytorch_example_runs_and_confirms(tmp_path):
    for name in ("custom_pytorch.yaml", "custom_train.py"):
        shutil.copy(ROOT / "search_spaces" / name, tmp_path / name)
    result = hpsearch("run", "custom_pytorch.yaml", "--n-trials", "3", "--set", "fixed.num_epochs=3",
                      cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    done = trials(tmp_path, "custom-pytorch")
    assert [t.state for t in done] == [TrialState.COMPLETE] * 3
    assert all(0.5 < t.value <= 1 and t.user_attrs["n_parameters"] > 0 for t in done)
    assert (tmp_path / "studies" / "models" / "hpsearch.db" / "custom-pytorch" / f"trial-{max(done, key=lambda t: t.value).number}"
            / "model.pt").exists()
    confirmed = hpsearch("confirm", "custom-pytorch", "--top", "2", "--seeds", "1", cwd=tmp_path, timeout=300)
    assert confirmed.returncode == 0, confirmed.stderr
    runs = optuna.load_study(study_name="custom-pytorch",
                             storage=f"sqlite:///{tmp_path}/studies/hpsearch.db").user_attrs[ATTR_CONFIRM]
    assert len(runs) == 2 and all(list(seeds) == ["1"] for seeds in runs.values())


def _start(args, cwd):
    return subprocess.Popen(COMMAND + list(args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_report(root, number, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for t in trials(root):
                if t.number == number and t.state == TrialState.RUNNING and t.intermediate_values:
                    return t
        except KeyError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"trial {number} never reported")


@pytest.mark.slow
def test_kill_9_then_run_again_loses_nothing(project):
    project(n_trials=3, n_steps=4, pause=1)
    process = _start(["run", "space.yaml"], project.root)
    running = _wait_for_report(project.root, 1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    result = subprocess.run(COMMAND + ["run", "space.yaml"], cwd=project.root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    done = trials(project.root)
    assert [t.state for t in done].count(TrialState.COMPLETE) == 3 and done[1].state == TrialState.FAIL
    retry = next(t for t in done if t.user_attrs.get(ATTR_RETRY_OF) == 1)
    assert retry.params == running.params and retry.state == TrialState.COMPLETE


def _alive(pid):
    """Whether process `pid` runs (a zombie left for a parent that does not reap counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_trial_ends_soon_after_its_study_process_is_killed(project):
    project(n_trials=1, n_steps=2, pause=120)  # its first report would come two minutes later
    process = _start(["run", "space.yaml"], project.root)
    storage = f"sqlite:///{project.root}/studies/hpsearch.db"
    wait_for_trials(storage, lambda found: any("worker_pid" in t.user_attrs for t in found), name="own", timeout=120)
    pid = stored_trials(storage, "own")[0].user_attrs["worker_pid"]
    assert _alive(pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)  # not two minutes later, at the report that would have found the pipe closed


@pytest.mark.slow
def test_ctrl_c_then_run_again_re_runs_the_interrupted_trial(project):
    project(n_trials=2, n_steps=6, pause=1)
    process = _start(["run", "space.yaml"], project.root)
    running = _wait_for_report(project.root, 0)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted; trial 0 will run again with the same values" in stderr
    result = subprocess.run(COMMAND + ["run", "space.yaml"], cwd=project.root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    done = trials(project.root)
    assert done[0].state == TrialState.FAIL and done[0].user_attrs[ATTR_REASON] == "interrupted"
    assert done[1].user_attrs[ATTR_RETRY_OF] == 0 and done[1].params == running.params
    assert [t.state for t in done].count(TrialState.COMPLETE) == 2


def _child_of_trial(root, number, timeout=120):
    """The pid of the `sleep 300` trial `number` started (starts_a_child), once it has started it."""
    path, deadline = root / f"child-{number}.pid", time.monotonic() + timeout
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(path.read_text())


def _ended_soon(pid, seconds=5):
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_a_trial_past_its_time_limit_is_ended_with_the_processes_it_started(project):
    path = project(n_trials=1, function="starts_a_child")
    path.write_text(path.read_text().replace("  n_trials: 1", "  n_trials: 1\n  trial_timeout: 3s"))
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 1 and "3 trials in a row failed the same way" in result.stderr, result.stderr
    for trial in trials(project.root):
        assert trial.user_attrs[ATTR_REASON] == "exceeded the trial time limit of 3 s (study.trial_timeout)"
        child = _child_of_trial(project.root, trial.number)
        assert _ended_soon(child), f"trial {trial.number}'s own `sleep 300` (pid {child}) still runs"


def test_a_pruned_trial_ends_the_processes_it_started(project):
    project(n_trials=1, function="starts_a_child", pruner="{name: threshold, lower: 2.0}")
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 0, result.stderr
    assert trials(project.root)[0].state == TrialState.PRUNED
    child = _child_of_trial(project.root, 0)
    assert _ended_soon(child), f"the pruned trial's own `sleep 300` (pid {child}) still runs"


@pytest.mark.slow
def test_ctrl_c_ends_the_processes_a_trial_started(project):
    project(n_trials=1, function="starts_a_child")
    process = _start(["run", "space.yaml"], project.root)
    child = _child_of_trial(project.root, 0)
    _wait_for_report(project.root, 0)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert _ended_soon(child), f"the interrupted trial's own `sleep 300` (pid {child}) still runs"


def test_a_keyboard_interrupt_in_a_trial_stops_the_study_as_ctrl_c_does(project):
    """The user's function raising KeyboardInterrupt (or a SIGINT sent to the trial): the user's interrupt, not a
    failure of the trial's values."""
    from hpsearch.store.trials import ATTR_RERUN

    project(n_trials=3, function="interrupted")
    result = hpsearch("run", "space.yaml", cwd=project.root)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == ("error: interrupted; trial 0 will run again with the same "
                                                      "values on the next run (hpsearch resume own)")
    done = trials(project.root)
    assert len(done) == 1 and done[0].state == TrialState.FAIL
    assert done[0].user_attrs[ATTR_REASON] == "interrupted" and done[0].user_attrs[ATTR_RERUN] is True
