"""Whatever YAML a user writes, hpsearch answers with SpaceError lines, never a traceback."""

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpsearch.errors import SpaceError
from hpsearch.spec.space import load_text

KEYS = ["study", "task", "fixed", "space", "name", "n_trials", "timeout", "sampler", "pruner", "metric",
        "direction", "storage", "type", "model", "dataset", "path", "eval_every", "learning_rate", "dropout",
        "optimizer", "momentum", "low", "high", "log", "step", "choices", "when", "documented", "seed", "save"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["documented", "tpe", "grid", "sgd", "adamw", "15m", "sqlite:///x.db", "", "t", "-1e5"]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner,
                                                                max_size=5),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(["study", "task", "fixed", "space"]), values, max_size=4)


def _validate(text: str) -> None:
    try:
        load_text(text, file="p.yaml")
    except SpaceError as exc:
        assert exc.problems and all(str(p).startswith("p.yaml") for p in exc.problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_structured_yaml_never_raises_anything_but_space_error(doc):
    _validate(yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_space_error(text):
    _validate(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KEYS), values)
def test_mutating_a_valid_file_never_raises(key, value):
    base = {"study": {"name": "t", "sampler": {"name": "tpe"}}, "space": {"dropout": "documented"}}
    for section in ("study", "space"):
        mutated = {**base, section: {**base[section], key: value}}
        _validate(yaml.safe_dump(mutated))
