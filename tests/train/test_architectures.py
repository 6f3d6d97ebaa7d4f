"""dropout, attention_dropout and model_size act on every architecture family hpsearch supports, and a
space that tunes a knob the architecture lacks is refused before any trial."""

import io
import pickle
import re
import shutil

import pytest
import torch

from hpsearch.errors import TrialSetupError
from hpsearch.spec.space import load_text
from hpsearch.train.tasks.base import check_model, load_config
from hpsearch.train.worker import run
from hpsearch.trial import TrialJob
from tiny import Channel

TOKENIZER_WORDS = 40


def build(kind, folder, tiny_assets, layers=2):
    """A tiny randomly initialised sequence classifier of family `kind`, saved with the tiny BERT tokenizer."""
    from transformers import (
        AutoModelForSequenceClassification,
        BertConfig,
        DistilBertConfig,
        GPT2Config,
        LlamaConfig,
        T5Config,
    )

    common = dict(vocab_size=TOKENIZER_WORDS, num_labels=2, pad_token_id=0)
    config = {
        "bert": lambda: BertConfig(hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                                   intermediate_size=32, max_position_embeddings=64, **common),
        "distilbert": lambda: DistilBertConfig(dim=16, n_layers=layers, n_heads=2, hidden_dim=32,
                                               max_position_embeddings=64, **common),
        "gpt2": lambda: GPT2Config(n_embd=16, n_layer=layers, n_head=2, n_positions=64, **common),
        "llama": lambda: LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
                                     num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                                     **common),
        "t5": lambda: T5Config(d_model=16, d_ff=32, d_kv=8, num_heads=2, num_layers=layers, decoder_start_token_id=0,
                               eos_token_id=3, **common),  # the BERT tokenizer ends each text with [SEP] = 3
    }[kind]()
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_assets / "model" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_assets):
    root = tmp_path_factory.mktemp("architectures")
    return {kind: build(kind, root / kind, tiny_assets) for kind in ("bert", "distilbert", "gpt2", "llama", "t5")}


def built(path, values):
    from transformers import AutoModelForSequenceClassification

    config = load_config(str(path), values, [])
    return AutoModelForSequenceClassification.from_pretrained(str(path), config=config)


def dropout_rates(model):
    return {round(m.p, 6) for m in model.modules() if isinstance(m, torch.nn.Dropout)}


@pytest.mark.parametrize("kind", ["bert", "distilbert", "gpt2", "t5"])
def test_dropout_reaches_the_dropout_modules(models, kind):
    assert 0.37 not in dropout_rates(built(models[kind], {}))
    assert 0.37 in dropout_rates(built(models[kind], {"dropout": 0.37}))


@pytest.mark.parametrize("kind", ["bert", "distilbert", "gpt2", "llama"])
def test_attention_dropout_reaches_the_attention(models, kind):
    model = built(models[kind], {"attention_dropout": 0.23})
    rates = dropout_rates(model) | {round(float(getattr(m, "attention_dropout", -1)), 6) for m in model.modules()
                                    if isinstance(getattr(m, "attention_dropout", None), float)}
    assert 0.23 in rates


def stack(model):
    """The model's repeated blocks (BERT's layer.N, GPT-2's h.N, Llama's layers.N)."""
    return [m for name, m in model.named_modules() if re.search(r"(^|\.)(layer|h|layers)\.\d+$", name)]


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_model_size_keeps_the_first_pretrained_layers(models, kind):
    full, cut = built(models[kind], {}), built(models[kind], {"model_size": 1})
    assert len(stack(full)) == 2 and len(stack(cut)) == 1
    first_full, first_cut = stack(full)[0].state_dict(), stack(cut)[0].state_dict()
    assert first_full.keys() == first_cut.keys()
    assert all(torch.equal(first_full[k], first_cut[k]) for k in first_full)
    assert sum(p.numel() for p in cut.parameters()) < sum(p.numel() for p in full.parameters())


def spec(model, extra=""):
    return load_text(f"study: {{name: t}}\ntask: {{model: {model}, dataset: {{path: data.csv}}}}\n{extra}",
                     file="a.yaml")


@pytest.mark.parametrize(
    "kind, extra, message",
    [
        ("llama", "space: {dropout: documented}", "a.yaml:3: space.dropout: llama models have no dropout attribute"),
        ("t5", "fixed: {attention_dropout: 0.1}", "fixed.attention_dropout: t5 models have no attention dropout"),
        ("t5", "space: {model_size: {low: 1, high: 2}}", "space.model_size: t5 models have no single layer count"),
        ("bert", "space: {model_size: {choices: [1, 4]}}", "space.model_size: asks for up to 4 layers, but"),
    ],
)
def test_a_knob_the_model_lacks_is_refused_before_any_trial(models, kind, extra, message):
    problems = [str(p) for p in check_model(spec(models[kind], extra))]
    assert any(message in p for p in problems), problems


def test_a_fitting_space_has_no_problem(models):
    extra = "space: {dropout: documented, attention_dropout: documented, model_size: {low: 1, high: 2}}"
    assert check_model(spec(models["bert"], extra)) == []


def test_llama_refuses_dropout_in_a_trial_too(models):
    with pytest.raises(TrialSetupError, match="llama models have no dropout"):
        load_config(str(models["llama"]), {"dropout": 0.2}, [])



@pytest.mark.train
@pytest.mark.parametrize("kind", ["distilbert", "gpt2", "llama", "t5"])
def test_every_family_trains_a_classification_trial(models, kind, tiny_assets, tmp_path):
    shutil.copy(tiny_assets / "data.csv", tmp_path / "data.csv")
    text = (f"study: {{name: t}}\ntask: {{model: {models[kind]}, dataset: {{path: data.csv, eval_size: 40}}, "
            "eval_every: 5}\n")
    job = TrialJob(load_text(text, base_dir=str(tmp_path)), 0,
                   {"max_steps": 10, "batch_size": 8, "learning_rate": 0.01, "sequence_length": 16}, None, None)
    result = run(job, Channel())
    assert result.state == "complete" and result.stop_step == 10 and len(result.history) == 2
    seconds = result.history_seconds  # the compute each evaluation had cost: the anytime curves' x axis
    assert len(seconds) == 2 and 0 < seconds[0] < seconds[1] <= result.train_seconds
    PlainOnly(io.BytesIO(pickle.dumps(result))).load()  # the study process unpickles it without importing torch


class PlainOnly(pickle.Unpickler):
    """Refuses every class but TrialResult itself: a trial's result must be plain data inside (a torch object
    would import torch)."""

    def find_class(self, module, name):
        if (module, name) == ("hpsearch.trial", "TrialResult"):
            return super().find_class(module, name)
        raise AssertionError(f"a trial's result holds a {module}.{name}")


@pytest.mark.train
def test_model_size_may_name_checkpoints(models, tiny_assets, tmp_path):
    shutil.copy(tiny_assets / "data.csv", tmp_path / "data.csv")
    text = (f"study: {{name: t}}\ntask: {{model: {models['bert']}, dataset: {{path: data.csv, eval_size: 40}}, "
            f"eval_every: 5}}\nspace:\n  model_size: {{choices: ['{models['bert']}', '{models['gpt2']}']}}\n")
    spec = load_text(text, base_dir=str(tmp_path))
    assert check_model(spec) == []
    sizes = {}
    for name in ("bert", "gpt2"):
        config = {"model_size": str(models[name]), "max_steps": 5, "batch_size": 8, "sequence_length": 16}
        sizes[name] = run(TrialJob(spec, 0, config, None, None), Channel()).n_parameters
    from transformers import AutoModelForSequenceClassification

    for name, count in sizes.items():
        assert count == AutoModelForSequenceClassification.from_pretrained(str(models[name])).num_parameters()
    assert sizes["bert"] != sizes["gpt2"]
