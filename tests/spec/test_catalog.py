import pytest

from hpsearch.spec import catalog

DOCUMENTED = {  # name: (kind, scale, low, high) as the issue lists them
    "learning_rate": ("float", "log", 1e-4, 1e-1),
    "batch_size": ("int", "log", 8, 256),
    "num_epochs": ("int", "linear", 1, 100),
    "dropout": ("float", "linear", 0.1, 0.5),
    "weight_decay": ("float", "log", 1e-4, 1e-1),
    "sequence_length": ("int", "linear", 32, 1000),
    "warmup_ratio": ("float", "linear", 0.0, 0.1),
    "gradient_accumulation_steps": ("int", "linear", 1, 10),
    "temperature": ("float", "linear", 0.1, 1.0),
    "top_p": ("float", "linear", 0.1, 0.9),
    "top_k": ("int", "linear", 1, 10),
    "attention_dropout": ("float", "linear", 0.1, 0.5),
}
NOT_DOCUMENTED = ["max_steps", "model_size", "max_grad_norm", "early_stopping_patience"]
CATEGORICAL = {
    "optimizer": {"adamw", "sgd", "adafactor"},
    "lr_scheduler": {"linear", "cosine", "constant", "constant_with_warmup", "polynomial",
                     "cosine_with_restarts", "inverse_sqrt"},
}


def test_there_are_exactly_19_classic_entries_in_order():
    names = [hp.name for hp in catalog.CLASSIC]
    assert len(names) == 19
    assert names[0] == "learning_rate" and names[-1] == "early_stopping_patience"
    assert set(DOCUMENTED) | set(NOT_DOCUMENTED) | set(CATEGORICAL) | {"loss"} == set(names)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_ranges(name):
    hp = catalog.get(name)
    kind, scale, low, high = DOCUMENTED[name]
    assert (hp.kind, hp.scale, hp.low, hp.high, hp.documented) == (kind, scale, low, high, True)
    assert hp.has_range


@pytest.mark.parametrize("name", NOT_DOCUMENTED)
def test_entries_without_documented_range_say_so(name):
    hp = catalog.get(name)
    assert not hp.documented and not hp.has_range
    assert "no documented range" in hp.note


@pytest.mark.parametrize("name", CATEGORICAL)
def test_categorical_choices(name):
    assert set(catalog.get(name).choices) == CATEGORICAL[name]


def test_loss_choices_cover_the_issue():
    assert {"cross_entropy", "label_smoothed_cross_entropy", "focal", "mse"} <= set(catalog.get("loss").choices)


def test_generation_only_entries():
    assert {hp.name for hp in catalog.CATALOG.values() if hp.generation_only} == {"temperature", "top_p", "top_k"}


def test_every_entry_describes_itself():
    for hp in catalog.CATALOG.values():
        assert hp.meaning and hp.acts_on and hp.target
        data = hp.to_dict()
        assert data["name"] == hp.name and "aliases" not in data


def test_sub_parameters_name_a_parent_choice():
    for hp in catalog.SUB_PARAMETERS:
        parent, choices = hp.parent
        assert set(choices) <= set(catalog.get(parent).choices)


@pytest.mark.parametrize(
    "name, value, ok",
    [
        ("learning_rate", 0.0, False),
        ("learning_rate", 1e-3, True),
        ("dropout", 1.0, False),
        ("dropout", 0.0, True),
        ("batch_size", 16.5, False),
        ("batch_size", 0, False),
        ("batch_size", True, False),
        ("optimizer", "adam", False),
        ("optimizer", "sgd", True),
        ("model_size", "prajjwal1/bert-tiny", True),
        ("model_size", 0, False),
        ("top_p", 1.0, True),
        ("top_p", 0.0, False),
    ],
)
def test_check_value(name, value, ok):
    assert (catalog.get(name).check_value(value) is None) is ok


def test_aliases_point_at_real_entries():
    assert catalog.ALIASES["lr"] == "learning_rate"
    assert all(target in catalog.CATALOG for target in catalog.ALIASES.values())
    assert not set(catalog.ALIASES) & set(catalog.CATALOG)
