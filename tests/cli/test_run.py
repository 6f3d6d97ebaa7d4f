"""`hpsearch run` and `hpsearch resume` end to end: real processes, real signals, the real dashboard."""

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND, ROOT, cli
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_REASON, ATTR_RETRY_OF


def start(args, cwd):
    return subprocess.Popen(COMMAND + [str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_ctrl_c_acts)


def _ctrl_c_acts():
    """A shell's background job ignores SIGINT and its children inherit that: give the command Ctrl-C back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def load(project):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="tiny", storage=storage_for(project.storage))


def wait_for_running_trial(project, number, timeout=120):
    """Block until trial `number` is RUNNING and has reported at least one evaluation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for trial in load(project).get_trials(deepcopy=False):
                if trial.number == number and trial.state == TrialState.RUNNING and trial.intermediate_values:
                    return trial
        except KeyError:
            pass  # the study does not exist yet
        time.sleep(0.05)
    raise AssertionError(f"trial {number} never ran")


def gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def long_trials(project, n_trials):
    path = project(n_trials=n_trials)
    path.write_text(path.read_text().replace("max_steps: 30", "max_steps: 200"))
    return path


def test_run_then_resume_from_the_database_alone(tiny_project):
    path = tiny_project(n_trials=2)
    first = subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "2/2 trials finished" in first.stdout and "best eval_accuracy" in first.stdout
    assert "look at it: hpsearch show tiny, or hpsearch dashboard" in first.stdout
    path.unlink()  # resume needs only the database
    resumed = subprocess.run(COMMAND + ["resume", "tiny", "--n-trials", "3"], cwd=tiny_project.root,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "3/3 trials finished" in resumed.stdout and "this run: 1 trials" in resumed.stdout
    assert len(load(tiny_project).get_trials(states=(TrialState.COMPLETE,))) == 3


def test_the_study_process_stays_small_and_flat(tiny_project):
    path = tiny_project(n_trials=6)
    assert subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True).returncode == 0
    rss = [t.user_attrs["study_process_rss_mb"] for t in load(tiny_project).get_trials()]
    assert max(rss) < 400  # no torch in the study process: the trial processes hold it
    assert rss[-1] - rss[1] < 10, rss  # flat across trials (the first trial's start warms caches)


@pytest.mark.no_training
def test_resume_of_an_unknown_study(tiny_project):
    tiny_project(n_trials=1)
    result = cli("resume", "nope", cwd=tiny_project.root)
    assert result.returncode == 2 and "no study database at studies/hpsearch.db" in result.stderr
    assert not (tiny_project.root / "studies").exists()  # looking created nothing
    storage_for(tiny_project.storage)
    result = cli("resume", "nope", cwd=tiny_project.root)
    assert result.returncode == 2 and "no study 'nope' in this database" in result.stderr


def test_a_changed_space_is_refused_with_the_difference(tiny_project):
    path = tiny_project(n_trials=1)
    assert subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True).returncode == 0
    path.write_text(path.read_text().replace("dropout: documented", "dropout: {low: 0.1, high: 0.2}"))
    result = subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True, text=True)
    assert result.returncode == 2
    assert "--force" in result.stderr and "+  dropout: {low: 0.1, high: 0.2}" in result.stderr


@pytest.mark.slow
def test_kill_9_mid_trial_then_resume_loses_nothing(tiny_project):
    path = long_trials(tiny_project, n_trials=3)
    process = start(["run", path.name], tiny_project.root)
    running = wait_for_running_trial(tiny_project, 1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert gone(running.user_attrs["worker_pid"]), "the trial's process outlived the study process"
    before = {t.number: t for t in load(tiny_project).get_trials()}
    assert before[0].state == TrialState.COMPLETE and before[1].state == TrialState.RUNNING

    result = subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "trial 1 was left running by a process that is gone" in result.stderr
    after = load(tiny_project).get_trials()
    assert [t.state for t in after].count(TrialState.COMPLETE) == 3  # exactly n_trials finished
    assert not [t for t in after if t.state == TrialState.RUNNING]
    assert after[0].datetime_complete == before[0].datetime_complete  # the complete trial was kept, not re-run
    assert after[1].state == TrialState.FAIL and "is gone" in after[1].user_attrs[ATTR_REASON]
    retry = next(t for t in after if t.user_attrs.get(ATTR_RETRY_OF) == 1)
    assert retry.params == after[1].params and retry.state == TrialState.COMPLETE
    integrity = subprocess.run(["python3", "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1])"
                                ".execute('PRAGMA integrity_check').fetchone()[0])",
                                str(tiny_project.root / "studies" / "hpsearch.db")], capture_output=True, text=True)
    assert integrity.stdout.strip() == "ok"


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_trial_runs_again(tiny_project):
    path = long_trials(tiny_project, n_trials=2)
    process = start(["run", path.name], tiny_project.root)
    running = wait_for_running_trial(tiny_project, 0)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 130, stderr
    assert "interrupted; trial 0 will run again with the same values" in stderr
    assert gone(running.user_attrs["worker_pid"])
    (trial,) = load(tiny_project).get_trials()
    assert trial.state == TrialState.FAIL and trial.user_attrs[ATTR_REASON] == "interrupted"

    path.write_text(path.read_text().replace("max_steps: 200", "max_steps: 30"))
    result = subprocess.run(COMMAND + ["run", path.name, "--force"], cwd=tiny_project.root, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    trials = load(tiny_project).get_trials()
    assert trials[1].user_attrs[ATTR_RETRY_OF] == 0 and trials[1].params == trial.params
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 2


def test_optuna_dashboard_serves_the_study(tiny_project):
    import optuna_dashboard

    path = tiny_project(n_trials=1)
    assert subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True).returncode == 0

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(tiny_project.storage), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/api/studies", timeout=30) as response:
            studies = json.load(response)["study_summaries"]
    finally:
        server.shutdown()
    assert [s["study_name"] for s in studies] == ["tiny"]


@pytest.mark.no_training
def test_missing_inputs_exit_2_before_any_database_exists(tiny_project):
    path = tiny_project(n_trials=1)
    path.write_text(path.read_text().replace("data.csv", "missing.csv"))
    result = cli("run", path.name, cwd=tiny_project.root)
    assert result.returncode == 2 and "task.dataset.path: no such file" in result.stderr
    path.write_text(path.read_text().replace("missing.csv", "data.csv").replace("model: model", "model: ./nomodel"))
    result = cli("run", path.name, cwd=tiny_project.root)
    assert result.returncode == 2 and "model './nomodel': no such folder" in result.stderr
    assert not (tiny_project.root / "studies").exists()


@pytest.mark.no_training
def test_an_sft_key_on_another_task_exits_2_on_one_line_before_any_database_exists(tiny_project):
    path = tiny_project(n_trials=1)
    text = path.read_text()
    path.write_text(text.replace("  eval_every: 5\n", "  eval_every: 5\n  completion_only_loss: false\n"))
    line = path.read_text().splitlines().index("  completion_only_loss: false") + 1
    result = cli("run", path.name, cwd=tiny_project.root)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"{path.name}:{line}: task.completion_only_loss: acts only for "
                                     "task.type: sft (remove it, or set the type)")
    assert not (tiny_project.root / "studies").exists()


TRAINING_ENTRIES = {"learning_rate", "batch_size", "num_epochs", "dropout", "weight_decay", "sequence_length",
                    "warmup_ratio", "gradient_accumulation_steps", "optimizer", "loss", "max_steps", "model_size",
                    "max_grad_norm", "lr_scheduler", "attention_dropout", "early_stopping_patience"}


def test_the_documented_space_runs_with_every_training_entry_sampled(tiny_project):
    """search_spaces/documented.yaml itself, pointed at the tiny model and data by --set overrides."""

    root = tiny_project.root
    result = subprocess.run(
        COMMAND + ["run", str(ROOT / "search_spaces" / "documented.yaml"), "--n-trials", "3",
                   "--storage", tiny_project.storage, "--set", f"task.model={root / 'model'}",
                   "--set", f"task.dataset={{path: {root / 'data.csv'}, eval_size: 50}}",
                   "--set", "space.model_size={choices: [1, 2]}", "--set", "space.max_steps={low: 4, high: 8}",
                   "--set", "task.eval_every=4"],
        capture_output=True, text=True, cwd=root, timeout=600)
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="documented", storage=storage_for(tiny_project.storage))
    assert len(study.trials) >= 3
    for trial in study.trials:
        assert TRAINING_ENTRIES <= set(trial.params), TRAINING_ENTRIES - set(trial.params)
    # 32 .. 1000 tokens on a model with 64 positions: capped, and the study says so once
    assert any("sequence_length is capped at the model's 64 positions" in w for w in study.user_attrs["warnings"])
    assert "sequence_length is capped" in result.stdout


def test_ten_failed_trials_stop_the_study_with_exit_1(tiny_project):
    """A runtime failure, not bad input: the README promises exit 1 for this stop (it was 2)."""
    path = tiny_project(n_trials=12)
    alternating = ",".join(f"{n}:{'raise' if n % 2 else 'memory'}@1" for n in range(10))  # never 3 alike in a row
    result = subprocess.run(COMMAND + ["run", path.name], cwd=tiny_project.root, capture_output=True, text=True,
                            env={**os.environ, "HPSEARCH_FAULTS": alternating}, timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: 10 trials in a row failed, so the study stopped")
    assert [t.state for t in load(tiny_project).get_trials()] == [TrialState.FAIL] * 10


@pytest.mark.no_training
def test_bad_data_exits_2_at_the_start_one_line_a_problem(tiny_project):
    """Found when `run` starts, not by three failed trials: each problem on its line, nothing created."""
    path = tiny_project(n_trials=3)
    data = tiny_project.root / "data.csv"
    data.write_text(data.read_text().replace("text,label", "sentence,sentiment", 1))
    result = cli("run", path.name, cwd=tiny_project.root)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "space.yaml:9: task.dataset.text_column: data.csv has no column 'text' (its columns: sentence, sentiment)",
        "space.yaml:9: task.dataset.label_column: data.csv has no column 'label' (its columns: sentence, sentiment)",
    ]
    # numbers where classes belong: the hint names the task type that predicts numbers
    data.write_text("text,label\n" + "".join(f"words {i},{i / 7:.3f}\n" for i in range(100)))
    result = cli("run", path.name, cwd=tiny_project.root)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "task.dataset.label_column: " in result.stderr and "use task.type: sequence-regression" in result.stderr
    assert not (tiny_project.root / "studies").exists()


@pytest.mark.no_training
def test_dropped_rows_are_counted_when_the_run_starts(tiny_project):
    path = tiny_project(n_trials=1)
    path.write_text(path.read_text().replace("model: model", "model: ./nomodel"))  # stops right after the data check
    data = tiny_project.root / "data.csv"
    lines = data.read_text().splitlines()
    lines[1], lines[2] = "," + lines[1].split(",")[1], lines[2].split(",")[0] + ","  # no text; no label
    data.write_text("\n".join(lines) + "\n")
    result = cli("run", path.name, cwd=tiny_project.root)
    assert ("space.yaml:9: task.dataset: data.csv: 2 of its 200 rows are left out (1 with no 'text', 1 with no "
            "'label') [warning]") in result.stderr.splitlines()
    assert result.returncode == 2 and "model './nomodel': no such folder" in result.stderr
