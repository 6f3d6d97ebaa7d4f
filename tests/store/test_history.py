"""hpsearch.store.history: the trials of earlier studies a warm-started study learns from, read, never written."""

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from hpsearch.errors import SpaceError
from hpsearch.spec.space import load_text
from hpsearch.store import history

SPACE = """
study:
  name: new
  sampler: {{name: tpe, seed: 0}}
  warm_start: {warm}
task: {{dataset: {{path: data.csv}}}}
space:
  learning_rate: {{low: 1.0e-5, high: 1.0e-3, log: true}}
  optimizer: {{choices: [adamw, sgd]}}
  momentum: {{low: 0.0, high: 0.9}}
"""
WIDE = {"learning_rate": FloatDistribution(1e-6, 1e-2, log=True), "optimizer": CategoricalDistribution(["adamw", "sgd"])}


def spec_with(warm: str, metric: str = ""):
    return load_text(SPACE.format(warm=warm).replace("  sampler:", metric + "  sampler:"), file="s.yaml")


def source(url: str, name: str = "old", direction: str = "maximize", objectives=("eval_accuracy",)) -> None:
    """A study of a wider space: trials that fit, one outside, one without momentum under sgd, other states."""
    study = optuna.create_study(study_name=name, storage=url, direction=direction)
    study.set_user_attr("objectives", list(objectives))
    rows = [  # learning_rate, optimizer, momentum (in the trial's config: that study fixed it), value, state
        (1e-4, "adamw", None, 0.6, TrialState.COMPLETE),
        (1e-2, "adamw", None, 0.9, TrialState.COMPLETE),  # outside this space's learning_rate
        (3e-4, "sgd", 0.5, 0.8, TrialState.COMPLETE),
        (3e-4, "sgd", None, 0.7, TrialState.COMPLETE),  # momentum is sampled under sgd here: missing
        (2e-4, "adamw", None, None, TrialState.PRUNED),
        (5e-4, "adamw", None, 0.7, TrialState.COMPLETE),
        (5e-5, "adamw", None, 0.95, TrialState.COMPLETE),  # broke a constraint
    ]
    for lr, optimizer, momentum, value, state in rows:
        config = {"learning_rate": lr, "optimizer": optimizer, "max_steps": 10}
        if momentum is not None:
            config["momentum"] = momentum
        study.add_trial(optuna.trial.create_trial(
            params={"learning_rate": lr, "optimizer": optimizer}, distributions=WIDE, value=value, state=state,
            user_attrs={"config": config, **({"feasible": False} if value == 0.95 else {})},
            intermediate_values={1: 0.5} if state == TrialState.PRUNED else None))


@pytest.fixture
def url(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return f"sqlite:///{tmp_path}/h.db"


def test_fitting_complete_trials_become_history_in_this_space(url):
    source(url)
    found = history.read(spec_with("{from: [old]}"), url)
    assert [t.params for t in found.trials] == [
        {"learning_rate": 1e-4, "optimizer": "adamw"},
        {"learning_rate": 3e-4, "optimizer": "sgd", "momentum": 0.5},  # momentum from the trial's config
        {"learning_rate": 5e-4, "optimizer": "adamw"}]
    assert [t.value for t in found.trials] == [0.6, 0.8, 0.7]
    assert found.trials[1].distributions["learning_rate"] == FloatDistribution(1e-5, 1e-3, log=True)
    assert [t.user_attrs[history.FROM] for t in found.trials] == ["old#0", "old#2", "old#5"]
    assert found.used == {"old": 3}
    assert found.notes == ["warm start: 3 trials of study old inform the sampler; 3 skipped: "
                           "learning_rate outside this space (1), no momentum (1), broke a constraint (1)"]


@pytest.mark.parametrize("direction, top, values", [("maximize", 2, [0.8, 0.7]), ("minimize", 1, [0.6])])
def test_top_keeps_the_best_by_the_objective(url, direction, top, values):
    source(url, direction=direction)
    spec = spec_with(f"{{from: [old], top: {top}}}", metric="  direction: minimize\n  metric: eval_loss\n"
                     if direction == "minimize" else "")
    found = history.read(spec, url)
    assert [t.value for t in found.trials] == values
    assert f"not among the top {top} ({3 - top})" in found.notes[0]


def test_several_sources_in_the_order_named(url):
    source(url, "a")
    source(url, "b")
    found = history.read(spec_with("{from: [b, a], top: 1}"), url)
    assert [t.user_attrs[history.FROM] for t in found.trials] == ["b#2", "a#2"] and found.used == {"b": 1, "a": 1}


def test_another_metric_is_said(url):
    source(url, objectives=("eval_f1",))
    assert history.read(spec_with("{from: [old]}"), url).notes[1] == (
        "warm start: study old optimized eval_f1, this study eval_accuracy: the sampler compares their values as "
        "they are")


@pytest.mark.parametrize("make, line", [
    (lambda url: None, "s.yaml:5: study.warm_start.from.0: no study 'old' in sqlite:///"),  # no database at all
    (lambda url: source(url, "olds"), "s.yaml:5: study.warm_start.from.0: no study 'old' in "),
    (lambda url: source(url, direction="minimize"), "s.yaml:5: study.warm_start.from.0: study old optimizes "
                                                    "minimize, this study maximize: warm start needs the same "
                                                    "direction"),
])
def test_a_source_that_cannot_inform_is_refused_with_its_line(url, make, line, tmp_path):
    make(url)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SpaceError) as info:
        history.read(spec_with("{from: [old]}"), url)
    assert len(info.value.problems) == 1 and str(info.value).startswith(line)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created, not even a database


def test_unknown_name_offers_the_close_one(url):
    source(url, "olds")
    with pytest.raises(SpaceError, match=r"no study 'old' in sqlite:///\S+ \(did you mean olds\?\)"):
        history.read(spec_with("{from: [old]}"), url)


def test_record_says_what_show_prints(url):
    source(url)
    study = optuna.create_study(study_name="new", storage=url)
    history.record(study, history.read(spec_with("{from: [old]}"), url))
    assert optuna.load_study(study_name="new", storage=url).user_attrs[history.ATTR_WARM_START] == {"old": 3}
