"""hpsearch.spec.warm_start: `study.warm_start:` as the file gives it, and which source trials fit the space."""

from collections import Counter

import pytest

from hpsearch.errors import SpaceError
from hpsearch.spec import warm_start
from hpsearch.spec.space import load_text

SPACE = """
study:
  name: s
  n_trials: 4
  sampler: {sampler}
  warm_start: {warm}
task: {{model: minilm-l6}}
fixed: {{batch_size: 16}}
space:
  learning_rate: {{low: 1.0e-5, high: 1.0e-3, log: true}}
  optimizer: {{choices: [adamw, sgd]}}
  momentum: {{low: 0.0, high: 0.9, step: 0.1}}
  gradient_accumulation_steps: {{low: 1, high: 4}}
"""


def spec_with(warm: str, sampler: str = "{name: tpe, seed: 0}"):
    return load_text(SPACE.format(warm=warm, sampler=sampler), file="s.yaml")


@pytest.mark.parametrize("warm, names, top", [
    ("{from: [a, b], top: 5}", ["a", "b"], 5),
    ("{from: a}", ["a"], None),  # one study needs no list
])
def test_valid_warm_start(warm, names, top):
    spec = spec_with(warm)
    assert spec.study.warm_start.from_ == names and spec.study.warm_start.top == top


@pytest.mark.parametrize("warm, sampler, line", [
    ("{from: [s]}", "tpe", "s.yaml:6: study.warm_start.from.0: s is this study itself"),
    ("{from: [a, a]}", "tpe", "study.warm_start.from.1: a is named twice (give each study once)"),
    ("{from: [a]}", "random", "study.warm_start: the random sampler does not learn from earlier trials; warm start "
                              "needs tpe or gp (study.sampler)"),
    ("{from: [a]}", "qmc", "the qmc sampler does not learn from earlier trials"),
    ("{from: ['sqlite:///other.db/a']}", "tpe", "study.warm_start.from: 'sqlite:///other.db/a': name a study of this "
                                                "study's own database; copy one from another database first"),
    ("{from: ['a b']}", "tpe", "study.warm_start.from: 'a b' is not a study name"),
    ("{from: []}", "tpe", "study.warm_start.from: must be a study name or a list of them, but got []"),
    ("{from: [3]}", "tpe", "study.warm_start.from: must be a study name or a list of them, but got [3]"),
    ("{from: [a], top: 0}", "tpe", "study.warm_start.top: must be a positive integer (the best N trials of each "
                                   "study), but got 0"),
    ("{from: [a], top: 2.5}", "tpe", "study.warm_start.top: must be a positive integer"),
    ("{from: [a], top: true}", "tpe", "study.warm_start.top: must be a positive integer"),
    ("{from: [a], tpo: 3}", "tpe", "study.warm_start.tpo: unknown key 'tpo' (did you mean top?)"),
    ("{top: 3}", "tpe", "study.warm_start: from is missing (add it)"),
    ("[a]", "tpe", "study.warm_start: must be a mapping such as {from: [earlier-study], top: 20}, but got ['a']"),
])
def test_bad_warm_start_is_one_line_with_its_key(warm, sampler, line):
    with pytest.raises(SpaceError) as info:
        spec_with(warm, sampler)
    assert len(info.value.problems) == 1
    assert line in str(info.value)


def test_top_needs_one_objective():
    text = SPACE.format(warm="{from: [a], top: 3}", sampler="tpe").replace(
        "  n_trials: 4\n", "  n_trials: 4\n  metric: [eval_accuracy, eval_loss]\n  direction: [maximize, minimize]\n")
    with pytest.raises(SpaceError, match="study.warm_start.top: keeps the best trials by one objective"):
        load_text(text, file="s.yaml")


@pytest.mark.parametrize("values, fitted, reason", [
    ({"learning_rate": 1e-4, "optimizer": "adamw", "gradient_accumulation_steps": 2},
     {"learning_rate": 1e-4, "optimizer": "adamw", "gradient_accumulation_steps": 2}, None),
    # momentum is sampled under sgd only: required there, left out under adamw
    ({"learning_rate": 1e-4, "optimizer": "sgd", "momentum": 0.5, "gradient_accumulation_steps": 1},
     {"learning_rate": 1e-4, "optimizer": "sgd", "momentum": 0.5, "gradient_accumulation_steps": 1}, None),
    ({"learning_rate": 1e-4, "optimizer": "adamw", "momentum": 0.5, "gradient_accumulation_steps": 1},
     {"learning_rate": 1e-4, "optimizer": "adamw", "gradient_accumulation_steps": 1}, None),
    ({"learning_rate": 1e-4, "optimizer": "sgd", "gradient_accumulation_steps": 1}, None, "no momentum"),
    # values the space does not sample are left out; those it samples come in the form it samples them
    ({"learning_rate": 1e-4, "optimizer": "adamw", "gradient_accumulation_steps": 3.0, "dropout": 0.3,
      "batch_size": 64}, {"learning_rate": 1e-4, "optimizer": "adamw", "gradient_accumulation_steps": 3}, None),
    ({"learning_rate": 1e-2, "optimizer": "adamw", "gradient_accumulation_steps": 1}, None,
     "learning_rate outside this space"),
    ({"learning_rate": 1e-4, "optimizer": "adafactor", "gradient_accumulation_steps": 1}, None,
     "optimizer outside this space"),
    ({"learning_rate": 1e-4, "optimizer": "adamw", "gradient_accumulation_steps": 1.5}, None,
     "gradient_accumulation_steps outside this space"),
    ({"learning_rate": "1e-4", "optimizer": "adamw", "gradient_accumulation_steps": 1}, None,
     "learning_rate outside this space"),  # of the wrong type
    ({"optimizer": "adamw", "gradient_accumulation_steps": 1}, None, "no learning_rate"),
])
def test_fit(values, fitted, reason):
    assert warm_start.fit(values, spec_with("{from: a}").space) == (fitted, reason)


def test_best_keeps_the_top_in_trial_order():
    trials = [(0, "a", 0.5), (1, "b", 0.9), (2, "c", 0.7), (3, "d", 0.9)]
    assert warm_start.best(trials, maximize=True, top=2) == [(1, "b", 0.9), (3, "d", 0.9)]
    assert warm_start.best(trials, maximize=False, top=2) == [(0, "a", 0.5), (2, "c", 0.7)]
    assert warm_start.best(trials, maximize=True, top=None) == trials
    assert warm_start.best(trials, maximize=True, top=9) == trials


def test_describe():
    assert warm_start.describe("a", 1, Counter()) == "warm start: 1 trial of study a informs the sampler"
    line = warm_start.describe("a", 3, Counter({"no momentum": 1, "learning_rate outside this space": 2}))
    assert line == ("warm start: 3 trials of study a inform the sampler; 3 skipped: learning_rate outside this "
                    "space (2), no momentum (1)")
