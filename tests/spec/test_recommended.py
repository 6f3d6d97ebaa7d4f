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
