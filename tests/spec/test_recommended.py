"""The literature's recommendations: which one applies to which setting, and how a model's size is read."""

import json

import pytest

from hpsearch.spec import recommended
from hpsearch.spec.recommended import Setting, recommend, setting_of


@pytest.mark.parametrize("setting, value", [
    (Setting("full", "base"), 3e-5),
    (Setting("full", "small"), 1e-4),
    (Setting("full", "large"), 1.5e-5),
    (Setting("lora", "base"), 4e-4),
    (Setting("lora", "small"), 4e-4),
])
def test_the_learning_rate_depends_on_the_setting(setting, value):
    assert recommend("learning_rate", setting).value == value


def test_every_recommendation_names_its_source_and_lies_in_its_range():
    for row in recommended.table():
        assert row["source"]
        if row["low"] is not None:
            assert row["low"] <= row["value"] <= row["high"], row


def test_lora_knobs_are_recommended_for_lora_only():
    assert recommend("lora_r", Setting("lora")).value == 8
    assert recommend("lora_r", Setting("full")) is None
    assert recommend("sequence_length", Setting()) is None  # no source gives one


def test_the_builtin_minilm_is_small():
    assert setting_of(None, "minilm-l6", ".").size == "small"


def test_size_from_a_local_config_and_from_a_name(tmp_path):
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "config.json").write_text(json.dumps(
        {"hidden_size": 1024, "num_hidden_layers": 24, "vocab_size": 20000}))
    assert setting_of(None, "big", str(tmp_path)).size == "large"
    assert setting_of(None, "big", str(tmp_path), layers=2).size == "small"  # model_size keeps 2 layers
    assert setting_of("lora", "org/roberta-large", ".") == Setting("lora", "large")
    assert setting_of(None, "org/some-model", ".").size == "base"


@pytest.mark.parametrize("model, size", [
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "under-1b"), ("Qwen/Qwen2.5-0.5B-Instruct", "under-1b"),
    ("meta-llama/Llama-3.1-8B-Instruct", "1b-10b"), ("Qwen/Qwen2.5-72B-Instruct", "over-10b"),
    ("mistralai/Mistral-Instruct", "1b-10b"),  # no count in the name: the common case
])
def test_a_decoder_llm_is_sized_in_billions_from_its_name(model, size):
    assert recommended.setting_of("lora", model, ".", decoder=True) == recommended.Setting("lora", size)


def test_a_decoder_llm_on_disk_is_sized_from_its_config(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000}')
    assert recommended.setting_of(None, str(tmp_path), ".", decoder=True).size == "1b-10b"


@pytest.mark.parametrize("name, size, value, source", [
    ("learning_rate", "1b-10b", 2e-4, "QLoRA (Dettmers et al. 2023): 2e-4 for 7B and 13B"),
    ("learning_rate", "over-10b", 1e-4, "QLoRA (Dettmers et al. 2023): 1e-4 for 33B and 65B"),
    ("lora_dropout", "1b-10b", 0.1, "0.1 up to 13B"),
    ("lora_dropout", "over-10b", 0.05, "0.05 for 33B and 65B"),
    ("lora_r", "1b-10b", 16, "practitioners' default: Unsloth"),
    ("lora_target_modules", "under-1b", "all-linear", "every linear layer"),
])
def test_decoder_llm_recommendations_name_their_source(name, size, value, source):
    rec = recommended.recommend(name, recommended.Setting("lora", size))
    assert rec.value == value and source in rec.source


def test_full_fine_tuning_of_a_decoder_takes_a_tenth_of_loras_rate():
    for size in recommended.DECODER_SIZES:
        lora = recommended.recommend("learning_rate", recommended.Setting("lora", size)).value
        full = recommended.recommend("learning_rate", recommended.Setting("full", size))
        assert full.value == pytest.approx(lora / 10) and "LoRA Without Regret" in full.source
