"""LoRA: the trial's rank, alpha, dropout and target modules shape real adapters; only they are saved."""

import shutil

import pytest

from hpsearch.errors import SpaceError, TrialSetupError
from hpsearch.spec.space import load_text
from hpsearch.train.lora import target_modules
from hpsearch.train.worker import prepare, run
from hpsearch.trial import TrialJob
from tiny import Channel


def job(folder, config, peft="lora", save_dir=None):
    text = (f"study: {{name: t}}\ntask: {{model: model, peft: {peft}, dataset: {{path: data.csv, eval_size: 40}}, "
            "eval_every: 5}\n")
    base = {"max_steps": 10, "batch_size": 8, "learning_rate": 0.01, "sequence_length": 16}
    return TrialJob(load_text(text, base_dir=str(folder)), 0, {**base, **config}, None, save_dir)


@pytest.fixture
def folder(tmp_path, tiny_assets):
    shutil.copytree(tiny_assets / "model", tmp_path / "model")
    shutil.copy(tiny_assets / "data.csv", tmp_path / "data.csv")
    return tmp_path


def adapters(model):
    return {name: module for name, module in model.named_modules() if hasattr(module, "lora_A") and module.lora_A}


def test_rank_alpha_dropout_and_targets_shape_the_adapters(folder, tmp_path):
    config = {"lora_r": 4, "lora_alpha": 32, "lora_dropout": 0.2, "lora_target_modules": "query,key,value"}
    model = prepare(job(folder, config), Channel(keep=True), str(tmp_path / "out")).setup.model
    found = adapters(model)
    assert {name.rsplit(".", 1)[-1] for name in found} == {"query", "key", "value"}
    layer = next(iter(found.values()))
    assert layer.r["default"] == 4 and layer.scaling["default"] == 32 / 4
    assert layer.lora_dropout["default"].p == 0.2
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or "classifier" in n for n in trainable)  # the pretrained weights stay frozen
    assert any("classifier" in n for n in trainable)  # the new head trains


def test_default_and_all_linear_targets(folder, tmp_path):
    default = adapters(prepare(job(folder, {}), Channel(keep=True), str(tmp_path / "a")).setup.model)
    every = adapters(prepare(job(folder, {"lora_target_modules": "all-linear"}), Channel(keep=True),
                             str(tmp_path / "b")).setup.model)
    assert {n.rsplit(".", 1)[-1] for n in default} == {"query", "value"}  # peft's choice for BERT
    assert len(every) > len(default)
    assert not any("classifier" in n for n in every)  # the head trains fully, it gets no adapter


def test_a_lora_trial_learns_and_saves_only_the_adapter(folder, tmp_path):
    result = run(job(folder, {"lora_r": 8, "learning_rate": 0.05, "max_steps": 30}, save_dir=tmp_path / "kept"),
                 Channel(keep=True))
    assert result.state == "complete" and result.n_trainable_parameters < result.n_parameters / 2
    saved = {p.name for p in (tmp_path / "kept").iterdir()}
    assert "adapter_config.json" in saved and "adapter_model.safetensors" in saved
    assert "model.safetensors" not in saved
    kept = (tmp_path / "kept" / "adapter_model.safetensors").stat().st_size
    assert kept < (folder / "model" / "model.safetensors").stat().st_size


def test_target_modules_forms():
    assert target_modules("default") is None and target_modules("all-linear") == "all-linear"
    assert target_modules("query, value") == ["query", "value"]


def test_unknown_target_modules_fail_the_trial_clearly(folder, tmp_path):
    with pytest.raises(TrialSetupError, match=r"no linear layer named q_proj in this bert model \(its linear layers: .*query"):
        prepare(job(folder, {"lora_target_modules": "q_proj"}), Channel(keep=True), str(tmp_path / "out"))


def test_lora_entries_need_peft_lora():
    text = "study: {name: t}\ntask: {dataset: {path: d.csv}}\nspace:\n  lora_r: {low: 4, high: 32, log: true}\n"
    with pytest.raises(SpaceError, match="s.yaml:4: space.lora_r: acts only in a LoRA fine-tune"):
        load_text(text, file="s.yaml")
    spec = load_text(text.replace("task: {", "task: {peft: lora, "), file="s.yaml")
    assert (spec.space["lora_r"].low, spec.space["lora_r"].high, spec.space["lora_r"].log) == (4, 32, True)
