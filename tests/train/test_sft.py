"""train/tasks/sft.py: TRL's SFTTrainer on a 2-layer Llama with a word-level tokenizer that carries a chat
template (tests/tiny.py, made here: no network). Each data form trains; completion-only loss masks the prompt."""

import json
import re

import pytest

from hpsearch.errors import TrialSetupError
from hpsearch.spec.space import load_text
from hpsearch.train.worker import prepare, run
from hpsearch.trial import TrialJob
from tiny import Channel, make_chat_decoder, make_chat_rows

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    make_chat_decoder(root / "chat")
    rows = make_chat_rows(120)
    for row in rows[::4]:  # a quarter with a system turn: their prompt is 14 tokens, the others' 8
        row["messages"].insert(0, {"role": "system", "content": "say good or bad"})
    pairs = [(r["messages"][-2]["content"] + " ->", r["messages"][-1]["content"]) for r in rows]
    (root / "chat.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "pairs.csv").write_text("prompt,completion\n" + "".join(f"{p},{c}\n" for p, c in pairs))
    (root / "texts.csv").write_text("text\n" + "".join(f"{p} {c}\n" for p, c in pairs))
    return root


SPACE = """
study: {{name: sft, n_trials: 1, sampler: {{name: random, seed: 0}}, pruner: none}}
task:
  type: sft
  model: chat
  dataset: {{path: {data}, eval_size: 24}}
  eval_every: 3{task}
fixed: {{max_steps: 6, batch_size: 16, learning_rate: 0.003{fixed}}}
"""


def spec(project, data="chat.jsonl", task="", fixed="", length=32):
    return load_text(SPACE.format(data=data, task=task, fixed=f", sequence_length: {length}{fixed}"),
                     base_dir=str(project))


def job(space, save_dir=None):
    return TrialJob(space, 0, dict(space.fixed), None, save_dir)


@pytest.mark.parametrize("data, form", [("chat.jsonl", "messages"), ("pairs.csv", "prompt-completion"),
                                        ("texts.csv", "text")])
def test_each_data_form_trains_and_records_eval_loss(project, data, form):
    result = run(job(spec(project, data)), Channel())
    assert result.state == "complete" and [step for step, _ in result.history] == [3, 6]
    losses = [value for _, value in result.history]
    assert losses[1] < losses[0]  # it learns
    assert result.best_metrics["eval_perplexity"] == pytest.approx(2.718281828 ** result.best_metrics["eval_loss"])
    only = "every token" if form == "text" else "completions / assistant turns only"
    assert f"data: {form}, loss on {only}" in result.notes


def labels_of(project, tmp_path, data, task=""):
    """The first training row's input ids and the labels TRL's collator makes of them."""
    prepared = prepare(job(spec(project, data, task)), Channel(), str(tmp_path))
    trainer = prepared.trainer
    batch = trainer.data_collator([trainer.train_dataset[0]])
    return batch["input_ids"][0].tolist(), batch["labels"][0].tolist(), prepared.setup.tokenizer


@pytest.mark.parametrize("data", ["chat.jsonl", "pairs.csv"])
def test_completion_only_loss_masks_the_prompt(project, tmp_path, data):
    ids, labels, tokenizer = labels_of(project, tmp_path, data)
    learned = tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != -100]).split()
    assert learned[0] in ("good", "bad") and learned[1:] == ["</s>"]  # the answer and its end, nothing else
    assert labels[0] == -100 and labels.count(-100) == len(ids) - 2


def test_completion_only_loss_turned_off_learns_every_token(project, tmp_path):
    ids, labels, _ = labels_of(project, tmp_path, "chat.jsonl", task="\n  completion_only_loss: false")
    assert labels == ids  # no -100 at all: the user's turn is learned too


def test_the_trainer_is_trls_with_the_trials_checks(project, tmp_path):
    from trl import SFTConfig, SFTTrainer

    from hpsearch.train.trainer import TrialTrainer

    prepared = prepare(job(spec(project, fixed=", packing: true, neftune_noise_alpha: 5.0")), Channel(),
                       str(tmp_path))
    assert isinstance(prepared.trainer, SFTTrainer) and isinstance(prepared.trainer, TrialTrainer)
    args = prepared.args
    assert isinstance(args, SFTConfig) and args.packing and args.neftune_noise_alpha == 5.0
    assert args.assistant_only_loss and args.max_length == 32 and not args.bf16 and not args.gradient_checkpointing


def test_a_lora_trial_keeps_only_its_adapter(project, tmp_path):
    space = spec(project, task="\n  peft: lora", fixed=", lora_target_modules: attention, lora_r: 4")
    result = run(job(space, save_dir=tmp_path / "kept"), Channel(keep=True))
    assert result.state == "complete" and result.model_dir == str(tmp_path / "kept")
    files = {p.name for p in (tmp_path / "kept").iterdir()}
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files
    config = json.loads((tmp_path / "kept" / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


def test_prompts_longer_than_the_sequence_are_counted_before_the_study(project):
    from hpsearch.train.tasks.sft import check

    [warning] = check(spec(project, length=12))  # the trial no longer notes it: the study said it before
    assert warning.warning and warning.path == "fixed.sequence_length"
    count = int(re.match(r"(\d+) of 96 training rows have a prompt of 12 tokens or more", warning.message).group(1))
    assert 10 < count < 40  # the rows with a system turn (a quarter of 120, split at random)
    result = run(job(spec(project, length=12)), Channel())
    assert not [n for n in result.notes if n.startswith("warning:")]
    assert result.peak_gpu_memory_mb is None and "peak_gpu_memory_mb" not in result.attrs()  # a CPU trial


def test_a_searched_sequence_length_warns_at_its_shortest_and_refuses_only_at_its_longest(project):
    from hpsearch.train.tasks.sft import check

    ranged = load_text(SPACE.format(data="chat.jsonl", task="", fixed="") + "space:\n  sequence_length: "
                       "{low: 12, high: 64}\n", base_dir=str(project))
    [warning] = check(ranged)
    assert warning.warning and warning.path == "space.sequence_length" and "of 12 tokens or more" in warning.message
    [error] = check(spec(project, length=8))
    assert not error.warning and error.message.startswith("every training row's prompt fills 8 tokens")


def test_prompts_that_all_fill_the_sequence_fail_the_trial_with_the_reason(project):
    with pytest.raises(TrialSetupError, match="every training row's prompt fills sequence_length"):
        run(job(spec(project, length=8)), Channel())


class Pruning(Channel):
    """The study's end of the pipe answering PRUNE at the second report."""

    def report(self, step, value):
        super().report(step, value)
        return len(self.reports) == 2


def test_the_pruner_stops_a_sft_trial_at_its_answer(project):
    channel = Pruning()
    result = run(job(spec(project)), channel)
    assert result.state == "pruned" and result.stop_reason == "pruned" and result.stop_step == 6
    assert [step for step, _ in channel.reports] == [3, 6]  # eval_loss, reported at each evaluation


def test_early_stopping_ends_a_sft_trial_whose_eval_loss_stays_flat(project):
    # a learning rate too small to move float32 weights: the second evaluation is no better, patience 1 stops it
    text = SPACE.format(data="chat.jsonl", task="", fixed=", sequence_length: 32, early_stopping_patience: 1")
    text = text.replace("max_steps: 6", "max_steps: 30").replace("learning_rate: 0.003", "learning_rate: 1.0e-12")
    result = run(job(load_text(text, base_dir=str(project))), Channel())
    assert result.state == "complete" and result.stop_reason == "stopped_early" and result.stop_step == 6
