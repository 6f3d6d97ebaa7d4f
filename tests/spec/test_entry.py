"""Every form a space entry takes -> the Optuna distribution it produces, or the error it earns."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from hpsearch.errors import unknown
from hpsearch.spec import catalog
from hpsearch.spec.entry import parse_entry
from hpsearch.spec.recommended import Setting, recommend

# the literature's recommendations for full fine-tuning of a small model (`recommended` forms)
RECOMMENDATIONS = {name: rec for name in catalog.CATALOG if (rec := recommend(name, Setting("full", "small")))}

FORMS = [
    ("learning_rate", "documented", FloatDistribution(1e-4, 1e-1, log=True)),
    ("learning_rate", {"documented": True}, FloatDistribution(1e-4, 1e-1, log=True)),
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "log": True}, FloatDistribution(1e-5, 1e-3, log=True)),
    ("dropout", {"low": 0.1, "high": 0.3, "step": 0.1}, FloatDistribution(0.1, 0.3, step=0.1)),
    ("dropout", {"low": 0, "high": 0.5}, FloatDistribution(0.0, 0.5)),
    ("dropout", {"low": 0.1, "high": 0.5, "type": "float"}, FloatDistribution(0.1, 0.5)),
    ("batch_size", "documented", IntDistribution(8, 256, log=True)),
    ("batch_size", {"low": 8, "high": 64, "step": 8}, IntDistribution(8, 64, step=8)),
    ("batch_size", {"low": 8, "high": 64, "type": "int"}, IntDistribution(8, 64)),
    ("batch_size", {"choices": [8, 16, 32]}, CategoricalDistribution([8, 16, 32])),
    ("num_epochs", {"low": 1.0, "high": 5.0}, IntDistribution(1, 5)),
    ("optimizer", "documented", CategoricalDistribution(["adamw", "sgd", "adafactor"])),
    ("optimizer", {"choices": ["sgd", "adamw"]}, CategoricalDistribution(["sgd", "adamw"])),
    ("lr_scheduler", "documented", CategoricalDistribution(list(catalog.get("lr_scheduler").choices))),
    ("model_size", {"choices": [2, 4, 6]}, CategoricalDistribution([2, 4, 6])),
    ("model_size", {"choices": ["a/tiny", "a/small"]}, CategoricalDistribution(["a/tiny", "a/small"])),
    ("model_size", {"low": 2, "high": 6}, IntDistribution(2, 6)),
    ("top_k", "documented", IntDistribution(1, 10)),
    ("max_grad_norm", {"low": 0.1, "high": 10.0, "log": True}, FloatDistribution(0.1, 10.0, log=True)),
    ("optimizer", {"documented": True}, CategoricalDistribution(["adamw", "sgd", "adafactor"])),
    ("batch_size", {"low": 8, "high": 64, "step": 8, "type": "int"}, IntDistribution(8, 64, step=8)),
    ("batch_size", {"low": 8, "high": 64, "log": True}, IntDistribution(8, 64, log=True)),
    ("batch_size", {"low": 8.0, "high": 64.0, "step": 8.0}, IntDistribution(8, 64, step=8)),
]


@pytest.mark.parametrize("name, raw, expected", FORMS)
def test_entry_forms_produce_distributions(name, raw, expected):
    entry, errors, _ = parse_entry(catalog.get(name), raw)
    assert errors == []
    assert entry.to_distribution() == expected


BAD = [
    ("learning_rate", {"low": 0.5, "high": 0.1}, "low (0.5) must be below high (0.1)"),
    ("learning_rate", {"low": 0.1, "high": 0.1}, "low equals high"),
    ("learning_rate", {"low": 0.1}, "high is missing"),
    ("learning_rate", {"low": "a", "high": 0.1}, "must be a number, but got 'a'"),
    ("weight_decay", {"low": 0, "high": 0.1, "log": True}, "must be above 0 on a log scale"),
    ("learning_rate", {"low": 1e-4, "high": 1e-2, "log": "yes"}, "must be true or false"),
    ("batch_size", {"low": 8.5, "high": 16}, "must be an integer for an int entry"),
    ("batch_size", {"low": 8, "high": 16, "step": 1.5}, "must be an integer for an int entry"),
    ("batch_size", {"low": 8, "high": 16, "type": "float"}, "batch_size is an int hyperparameter"),
    ("dropout", {"low": 0.1, "high": 0.5, "type": "int"}, "dropout is a float hyperparameter"),
    ("dropout", {"low": 0.1, "high": 0.5, "type": "str"}, "must be int or float"),
    ("dropout", {"low": 0.1, "high": 0.5, "step": 0.3}, "does not divide high - low"),
    ("dropout", {"low": 0.1, "high": 0.5, "step": -1}, "must be a number above 0"),
    ("learning_rate", {"low": 1e-4, "high": 1e-2, "log": True, "step": 1e-4}, "cannot be combined with log"),
    ("dropout", {"low": 0.1, "high": 1.5}, "must be below 1.0"),
    ("optimizer", {"choices": []}, "must be a non-empty list"),
    ("optimizer", {"choices": "adamw"}, "must be a non-empty list"),
    ("optimizer", {"choices": ["adam"]}, "did you mean adamw?"),
    ("optimizer", {"choices": ["sgd", "sgd"]}, "lists a value twice"),
    ("optimizer", {"low": 1, "high": 2}, "is categorical; give {choices"),
    ("batch_size", {"choices": [8, [16]]}, "must be a plain value"),
    ("batch_size", {"choices": [8, 16], "low": 8}, "cannot be combined with choices"),
    ("max_steps", "documented", "no documented range"),
    ("max_grad_norm", "documented", "has no documented range; give {low: 0.1, high: 10} (the conventional range)"),
    ("learning_rate", {"documented": False}, "must be true"),
    ("learning_rate", {"documented": True, "low": 1}, "cannot be combined with documented"),
    ("learning_rate", 0.01, "a single value belongs under fixed"),
    ("batch_size", [8, 16], "write {choices: [8, 16]}"),
    ("learning_rate", None, "is not a search entry"),
    ("learning_rate", {"lo": 1e-4, "high": 1e-2}, "unknown key 'lo' (did you mean low?)"),
    ("learning_rate", {"low": 1e-4, "high": 1e-2, "when": "x"}, "must map entry names"),
    ("learning_rate", {"low": 1e-4, "high": 1e-2, "when": {"optimizer": []}}, "needs at least one value"),
    ("learning_rate", {"high": 0.1}, "low is missing (give both low and high, or choices)"),
    ("learning_rate", {"low": 1e-4, "high": 1e-2, "step": "x"}, "must be a number above 0, but got 'x'"),
    ("learning_rate", {"documented": True, "choices": [0.1]}, "cannot be combined with documented"),
    ("learning_rate", {"recommended": False}, "must be true, but got False"),
    ("optimizer", {"choices": ["sgd"], "log": True}, "cannot be combined with choices"),
    ("optimizer", {"recommended": True, "choices": ["sgd"]}, "cannot be combined with recommended"),
    ("learning_rate", {"low": 1e-4, "high": 1e-2, "when": {}}, "must map entry names"),
]


@pytest.mark.parametrize("name, raw, message", BAD)
def test_bad_entries_are_rejected_with_the_rule(name, raw, message):
    entry, errors, _ = parse_entry(catalog.get(name), raw)
    assert entry is None
    assert any(message in text for _, text in errors), errors


def test_range_beyond_documented_warns_but_passes():
    entry, errors, warnings = parse_entry(catalog.get("learning_rate"), {"low": 1e-5, "high": 1e-3, "log": True})
    assert entry is not None and errors == []
    assert "reaches beyond the documented 0.0001 .. 0.1" in warnings[0][1]


def test_choices_beyond_documented_warn():
    _, _, warnings = parse_entry(catalog.get("batch_size"), {"choices": [4, 8]})
    assert "[4] lie outside the documented range" in warnings[0][1]


# Every mapping form may add `when:`; the condition leaves the distribution as it is.
WHEN_FORMS = [
    ("momentum", {"documented": True, "when": {"optimizer": "sgd"}}, FloatDistribution(0.9, 0.999)),
    ("momentum", {"low": 0.9, "high": 0.99, "when": {"optimizer": "sgd"}}, FloatDistribution(0.9, 0.99)),
    ("momentum", {"choices": [0.9, 0.95], "when": {"optimizer": "sgd"}}, CategoricalDistribution([0.9, 0.95])),
    ("focal_gamma", {"low": 1.0, "high": 3.0, "when": {"loss": "focal"}}, FloatDistribution(1.0, 3.0)),
    ("learning_rate", {"recommended": True, "when": {"optimizer": ["sgd", "adamw"]}},
     FloatDistribution(3e-5, 3e-4, log=True)),
]


@pytest.mark.parametrize("name, raw, expected", WHEN_FORMS)
def test_when_forms_keep_their_distribution(name, raw, expected):
    entry, errors, _ = parse_entry(catalog.get(name), raw, RECOMMENDATIONS)
    assert errors == []
    assert entry.to_distribution() == expected
    assert entry.when == {k: tuple(v) if isinstance(v, list) else (v,) for k, v in raw["when"].items()}


WARNED = [
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "log": True}, "range 1e-05 .. 0.001 reaches beyond the documented "
                                                                 "0.0001 .. 0.1"),
    ("batch_size", {"choices": [4, 8]}, "[4] lie outside the documented range 8 .. 256"),
    # beyond the documented range, but inside what the literature recommends in this setting: no warning
    ("learning_rate", {"low": 5e-5, "high": 3e-4, "log": True}, None),
    ("learning_rate", {"low": 1e-4, "high": 1e-2, "log": True}, None),
]


@pytest.mark.parametrize("name, raw, warning", WARNED)
def test_forms_that_warn(name, raw, warning):
    entry, errors, warnings = parse_entry(catalog.get(name), raw, RECOMMENDATIONS)
    assert entry is not None and errors == []
    assert [message for _, message in warnings] == ([warning] if warning else [])


def test_when_is_kept_as_tuples():
    entry, _, _ = parse_entry(catalog.get("momentum"), {"low": 0.9, "high": 0.99, "when": {"optimizer": "sgd"}})
    assert entry.when == {"optimizer": ("sgd",)}
    entry, _, _ = parse_entry(catalog.get("momentum"), {"low": 0.9, "high": 0.99, "when": {"optimizer": ["sgd"]}})
    assert entry.when == {"optimizer": ("sgd",)}


@pytest.mark.parametrize(
    "raw, values",
    [
        ({"choices": ["sgd", "adamw"]}, ["sgd", "adamw"]),
        ({"low": 8, "high": 32, "step": 8}, [8, 16, 24, 32]),
        ({"low": 0.1, "high": 0.3, "step": 0.1}, [0.1, 0.2, 0.3]),
        ({"low": 0.1, "high": 0.3}, None),
    ],
)
def test_grid_values(raw, values):
    name = "optimizer" if "choices" in raw else ("batch_size" if isinstance(raw["low"], int) else "dropout")
    entry, errors, _ = parse_entry(catalog.get(name), raw)
    assert errors == []
    assert entry.grid_values() == values


def test_unknown_suggests_aliases_then_near_names_then_lists():
    assert unknown("hyperparameter", "lr", ["learning_rate"], {"lr": "learning_rate"}).endswith(
        "(it is called learning_rate here)")
    assert unknown("key", "n_trial", ["n_trials", "name"]) == "unknown key 'n_trial' (did you mean n_trials?)"
    assert unknown("key", "zzz", ["a", "b"]) == "unknown key 'zzz' (choose from a, b)"


# -- priors and the literature's recommendations ---------------------------------------------------

PRIOR_FORMS = [
    ("learning_rate", "recommended", FloatDistribution(3e-5, 3e-4, log=True), 1e-4),
    ("learning_rate", {"recommended": True, "prior": 2e-4}, FloatDistribution(3e-5, 3e-4, log=True), 2e-4),
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "log": True, "prior": 5e-5}, FloatDistribution(1e-5, 1e-3, log=True),
     5e-5),
    ("batch_size", {"choices": [8, 16, 32], "prior": 32, "confidence": 0.9}, CategoricalDistribution([8, 16, 32]), 32),
    ("optimizer", "recommended", CategoricalDistribution(["adamw", "sgd", "adafactor"]), "adamw"),
    ("warmup_ratio", {"documented": True, "prior": 0.06, "confidence": 0}, FloatDistribution(0.0, 0.1), 0.06),
    ("num_epochs", {"low": 1, "high": 10, "prior": 3}, IntDistribution(1, 10), 3),
]


@pytest.mark.parametrize("name, raw, distribution, centre", PRIOR_FORMS)
def test_prior_forms(name, raw, distribution, centre):
    entry, errors, _ = parse_entry(catalog.get(name), raw, RECOMMENDATIONS)
    assert errors == []
    assert entry.to_distribution() == distribution
    assert (entry.prior.value if entry.prior else None) == centre


BAD_PRIORS = [
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "log": True, "prior": 0.5}, ("prior",),
     "(0.5) must lie in the range 1e-05 .. 0.001 log"),
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "prior": 1e-4, "confidence": 1}, ("confidence",),
     "must be a number from 0"),
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "prior": 1e-4, "confidence": -0.2}, ("confidence",),
     "must be a number from 0"),
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "confidence": 0.5}, ("confidence",), "needs a prior"),
    ("learning_rate", {"low": 1e-5, "high": 1e-3, "prior": "high"}, ("prior",), "must be a number"),
    ("num_epochs", {"low": 1, "high": 5, "prior": 2.5}, ("prior",), "must be an integer"),
    ("optimizer", {"choices": ["adamw", "sgd"], "prior": "adam"}, ("prior",), "must be one of the choices adamw, sgd"),
    ("sequence_length", "recommended", (), "has no recommendation in this setting; entries that have one: "),
    ("lora_r", "recommended", (), "entries that have one: attention_dropout, batch_size"),
    ("learning_rate", {"recommended": True, "low": 1e-5}, ("low",), "cannot be combined with recommended"),
]


@pytest.mark.parametrize("name, raw, path, message", BAD_PRIORS)
def test_bad_priors_name_the_key_and_the_rule(name, raw, path, message):
    entry, errors, _ = parse_entry(catalog.get(name), raw, RECOMMENDATIONS)
    assert entry is None
    assert any(p == path and message in m for p, m in errors), errors
