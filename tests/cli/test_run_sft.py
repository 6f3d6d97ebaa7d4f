"""`hpsearch run` of a sft space end to end (TRL's SFTTrainer on the tiny chat Llama of tests/tiny.py), and the
sft inputs refused in one line with exit 2 before any study exists."""

import json
import os
import re
import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import TrialState

from helpers import COMMAND, stored_trials, wait_for_trials
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_RETRY_OF
from tiny import CHAT_TEMPLATE, make_chat_decoder, make_chat_rows

pytestmark = pytest.mark.train

SPACE = """\
study: {{name: chat, n_trials: {n_trials}, sampler: {{name: random, seed: 0}}, pruner: plateau}}
task:
  type: sft
  model: {model}
  peft: lora
  dataset: {{path: {data}, eval_size: 24}}
  eval_every: 2{task}
fixed: {{max_steps: 6, batch_size: 16, sequence_length: {length}{fixed}}}
space:
  learning_rate: recommended
  lora_r: {{choices: [4, 8]}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft-cli")
    make_chat_decoder(root / "chat")
    make_chat_decoder(root / "plain", chat_template=None)
    rows = make_chat_rows(80)
    (root / "chat.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "template.jinja").write_text(CHAT_TEMPLATE)
    (root / "texts.csv").write_text("text\n" + "".join(f"{r['messages'][0]['content']}\n" for r in rows))
    bad = [dict(r) for r in rows]
    bad[5] = {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "good"}]}
    (root / "bad.jsonl").write_text("\n".join(json.dumps(r) for r in bad) + "\n")
    for row in rows[::4]:  # a quarter with a system turn: their prompt is 14 tokens, the others' 8
        row["messages"].insert(0, {"role": "system", "content": "say good or bad"})
    (root / "system.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root


def hpsearch(project, *args, name="space.yaml", n_trials=3, model="chat", data="chat.jsonl", task="", fixed="",
             length=32):
    (project / name).write_text(SPACE.format(n_trials=n_trials, model=model, data=data, task=task, fixed=fixed,
                                             length=length))
    return subprocess.run(COMMAND + [*args, name], cwd=project, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # 3 trials: about 100 s on 2 shared cores
def test_a_lora_sft_study_runs_end_to_end_and_keeps_an_adapter(project):
    result = hpsearch(project, "run")
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="chat", storage=storage_for(f"sqlite:///{project}/studies/hpsearch.db"))
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert all(t.intermediate_values for t in trials)  # eval_loss reported at every evaluation
    best = study.best_trial
    assert best.value == min(t.value for t in trials if t.state == TrialState.COMPLETE)
    kept = {p.name for p in (project / "studies" / "models").rglob("*") if p.is_file()}
    assert "adapter_model.safetensors" in kept and "model.safetensors" not in kept
    args = json.loads(subprocess.run(COMMAND + ["best", "chat", "-f", "args"], cwd=project, capture_output=True,
                                     text=True).stdout)
    assert args["learning_rate"] == best.params["learning_rate"] and args["max_steps"] == 6


@pytest.mark.slow
@pytest.mark.parametrize("settings, line", [
    ({"data": "bad.jsonl"}, "task.dataset.messages_column: bad.jsonl: row 6: message 1 has role 'bot', not one of"),
    ({"model": "plain"}, "task.model: plain's tokenizer has no chat template, and the data is messages"),
    ({"data": "texts.csv", "task": "\n  completion_only_loss: true"},
     "task.completion_only_loss: loss on completions only needs messages or prompt / completion data"),
    ({"fixed": ", quantization: 4bit"}, "fixed.quantization: 4bit (QLoRA) needs a CUDA GPU"),
    ({"fixed": ", lora_target_modules: 'q_proj,query'"},
     "fixed.lora_target_modules: chat has no linear layer named query (its linear layers: down_proj, gate_proj"),
])
def test_bad_sft_input_is_one_line_and_exit_2_before_any_study(project, tmp_path, settings, line):
    import shutil

    for name in ("chat", "plain"):
        shutil.copytree(project / name, tmp_path / name)
    for name in ("chat.jsonl", "bad.jsonl", "texts.csv"):
        shutil.copy(project / name, tmp_path / name)
    result = hpsearch(tmp_path, "run", n_trials=1, **settings)
    assert result.returncode == 2, result.stderr
    assert line in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "studies").exists()


def copied(project, tmp_path, *names):
    import shutil

    for name in names:
        (shutil.copytree if (project / name).is_dir() else shutil.copy)(project / name, tmp_path / name)
    return tmp_path


def test_prompts_that_all_fill_the_sequence_are_refused_before_any_study(project, tmp_path):
    root = copied(project, tmp_path, "chat", "chat.jsonl")
    result = hpsearch(root, "run", n_trials=1, length=8)  # every prompt: 8 tokens
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "space.yaml:8: fixed.sequence_length: every training row's prompt fills 8 tokens (sequence_length): "
        "completion-only loss leaves nothing to learn (raise sequence_length, or set task.completion_only_loss: false)"]
    assert not (root / "studies").exists()


@pytest.mark.slow  # one trial: about 30 s here
def test_prompts_that_fill_the_sequence_are_counted_before_the_study_starts(project, tmp_path):
    root = copied(project, tmp_path, "chat", "system.jsonl")
    result = hpsearch(root, "run", n_trials=1, data="system.jsonl", length=12)
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "training rows have a prompt" in line]
    count = int(re.search(r"space.yaml:8: fixed.sequence_length: (\d+) of 56 training rows have a prompt of 12 "
                          r"tokens or more \(sequence_length\): completion-only loss leaves them nothing to learn "
                          r"\[warning\]", warning).group(1))
    assert 8 < count < 24  # the rows with a system turn (a quarter of 80, less the 24 evaluation rows)
    assert result.stderr.index(warning) < result.stderr.index("trial 0")  # said before any trial


@pytest.mark.slow  # a whole run: about 40 s here
def test_a_chat_template_file_serves_a_tokenizer_without_one(project, tmp_path):
    import shutil

    shutil.copytree(project / "plain", tmp_path / "plain")
    shutil.copy(project / "chat.jsonl", tmp_path / "chat.jsonl")
    shutil.copy(project / "template.jinja", tmp_path / "template.jinja")
    result = hpsearch(tmp_path, "run", n_trials=1, model="plain", task="\n  chat_template: template.jinja")
    assert result.returncode == 0, result.stderr


def _group_alive(group: int) -> list[int]:
    """The live processes (zombies aside) of process group `group`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # it ended as we looked
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.mark.slow  # about 40 s on 2 shared cores
def test_kill_9_mid_trial_then_run_again_with_two_jobs_finishes_and_leaves_no_process(project, tmp_path):
    root = copied(project, tmp_path, "chat", "chat.jsonl")
    text = SPACE.format(n_trials=3, model="chat", data="chat.jsonl", task="", fixed="", length=32)
    (root / "space.yaml").write_text(text.replace("max_steps: 6,", "max_steps: 60,"))  # long enough to be killed mid-trial
    storage = f"sqlite:///{root}/studies/hpsearch.db"
    process = subprocess.Popen(COMMAND + ["run", "space.yaml"], cwd=root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:  # trial 1 has reported: the fork server and trial 1's worker are alive, mid-trial
        wait_for_trials(storage, lambda found: any(t.number == 1 and t.state == TrialState.RUNNING
                                                   and t.intermediate_values for t in found), name="chat")
    finally:
        os.kill(process.pid, signal.SIGKILL)  # the study process alone: its children must end on their own
        process.wait()
    deadline = time.monotonic() + 15
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_alive(process.pid) == []  # no fork server, no trial left behind
    again = subprocess.Popen(COMMAND + ["run", "space.yaml", "--n-jobs", "2"], cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    _, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    trials = stored_trials(storage, "chat")
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 3, states
    assert TrialState.RUNNING not in states and trials[1].state == TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get(ATTR_RETRY_OF) == 1)  # trial 1's values, run again
    assert retry.params == trials[1].params and retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    rerun = sorted((t for t in trials if t.number > 1 and t.state != TrialState.FAIL), key=lambda t: t.datetime_start)
    assert len(rerun) == 2 and rerun[1].datetime_start < rerun[0].datetime_complete  # n_jobs 2: at once
    deadline = time.monotonic() + 15
    while _group_alive(again.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_alive(again.pid) == []  # the finished run left no fork server and no trial behind
