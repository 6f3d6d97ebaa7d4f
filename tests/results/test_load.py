"""results/load.py: what `hpsearch best -f args` writes of a sft study (its SFTConfig), on zero-cost trials."""

import json

import pytest

from helpers import cli
from hpsearch.run.study_loop import run_study
from hpsearch.run.targets import ZERO_COST
from hpsearch.spec.space import load_space

SFT_SPACE = """\
study: {{name: chat, n_trials: 2, sampler: {{name: random, seed: 0}}, pruner: {{name: none}}}}
task:
  type: sft
  model: model
  dataset: {{path: {data}, eval_size: 4}}{task}
fixed: {{max_steps: 6, batch_size: 4, sequence_length: 48, packing: true, neftune_noise_alpha: 5.0, dropout: 0.2}}
space:
  learning_rate: {{low: 1.0e-4, high: 1.0e-3, log: true}}
"""

CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


@pytest.mark.parametrize("data, task, assistant, completion", [
    ("chat.jsonl", "", True, False),  # messages: the loss on the assistant's turns
    ("pairs.csv", "", False, True),  # prompt / completion: the loss on the completions
    ("pairs.csv", "\n  completion_only_loss: false", False, False),  # turned off: every token
])
def test_best_args_of_a_sft_study_is_its_sft_config(tmp_path, monkeypatch, data, task, assistant, completion):
    from trl import SFTConfig

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(CHAT) + "\n" for _ in range(20)))
    (tmp_path / "pairs.csv").write_text("prompt,completion\n" + "say hi,hello\n" * 20)
    (tmp_path / "space.yaml").write_text(SFT_SPACE.format(data=data, task=task))
    run_study(load_space(tmp_path / "space.yaml"), target=ZERO_COST)
    result = cli("best", "chat", "-f", "args", "-o", tmp_path / "args.json")
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "args.json").read_text())
    arguments = SFTConfig(**written)  # ready to train with
    assert (arguments.max_length, arguments.packing, arguments.neftune_noise_alpha) == (48, True, 5.0)
    assert (arguments.assistant_only_loss, arguments.completion_only_loss) == (assistant, completion)
    assert arguments.gradient_checkpointing is False and arguments.max_steps == 6
    # what SFTConfig carries is not left to the user; what applies to the model still is
    assert "dropout=0.2" in result.stderr and "packing" not in result.stderr and "sequence_length" not in result.stderr
