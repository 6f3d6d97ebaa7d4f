"""A custom task's file: its entry's forms, its metric and direction, the names of the training function's own."""

import textwrap

import pytest

from helpers import ROOT
from hpsearch.errors import SpaceError
from hpsearch.spec.custom import parse_entry
from hpsearch.spec.space import load_space, load_text
from hpsearch.spec.suggest import configuration, sample

GOOD = """
study: {name: own, metric: score, direction: maximize, sampler: {name: random, seed: 0}}
task: {type: custom, entry: train.py:main}
fixed:
  n_steps: 3
  name: small
  batch_size: 16
space:
  learning_rate: {low: 1.0e-3, high: 1.0e-1, log: true}
  hidden: {type: int, low: 8, high: 64, log: true}
  width: {type: float, low: 0.5, high: 2.0, step: 0.5}
  act: {choices: [relu, tanh]}
  scale: {type: float, low: 1.0, high: 2.0, when: {act: tanh}}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(SpaceError) as info:
        load_text(textwrap.dedent(text), file="c.yaml")
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("text, form", [
    ("train.py:main", ("file", "train.py", "main")),
    ("code/train.py:fit", ("file", "code/train.py", "fit")),
    ("my_pkg.train:main", ("module", "my_pkg.train", "main")),
    (" mod:run ", ("module", "mod", "run")),
])
def test_entry_forms(text, form):
    assert parse_entry(text) == form


@pytest.mark.parametrize("text", ["train.py", "train.py:", ":main", "my-pkg.train:main", "train.py:main()", "a b:c"])
def test_entry_forms_refused(text):
    with pytest.raises(ValueError, match="must name a function|neither a module name nor a .py file"):
        parse_entry(text)


def test_a_custom_file_samples_its_own_names_with_the_catalogue_s():
    spec = load_text(textwrap.dedent(GOOD))
    assert spec.metric == "score" and spec.direction == "maximize" and spec.task.model == "train.py:main"
    assert [e.kind for e in spec.space.values()] == ["float", "int", "float", "categorical", "float"]
    assert spec.priors() == {}  # the literature's priors are for fine-tuning a transformer, not this code
    configs = [configuration(spec.fixed, values) for values in sample(spec, 20)]
    assert all(8 <= c["hidden"] <= 64 and isinstance(c["hidden"], int) for c in configs)
    assert {c["width"] for c in configs} <= {0.5, 1.0, 1.5, 2.0}
    assert all(("scale" in c) == (c["act"] == "tanh") for c in configs)
    assert all(c["n_steps"] == 3 and c["name"] == "small" and c["batch_size"] == 16 for c in configs)


@pytest.mark.parametrize("change, expected", [
    # a catalogue name is checked as usual, under custom too
    ("  learning_rate: {low: 1.0e-3, high: 1.0e-1, log: true}", "  learning_rate: {low: -1, high: 1.0e-1, log: true}",),
    ("  batch_size: 16", "  batch_size: 0"),
    # the function's own names say their values in full
    ("  hidden: {type: int, low: 8, high: 64, log: true}", "  hidden: {low: 8, high: 64}"),
    ("  hidden: {type: int, low: 8, high: 64, log: true}", "  hidden: documented"),
    ("  hidden: {type: int, low: 8, high: 64, log: true}", "  hidden: {type: int, low: 64, high: 8}"),
    ("  hidden: {type: int, low: 8, high: 64, log: true}", "  hidden: {type: int, low: 8.5, high: 64}"),
    ("  act: {choices: [relu, tanh]}", "  act: {choices: [relu, tanh]}\n  mode: {choices: [a, a]}"),
    ("  act: {choices: [relu, tanh]}", "  lr: {type: float, low: 0.1, high: 0.2}\n  act: {choices: [relu, tanh]}"),
    ("  n_steps: 3", "  n_steps: [1, 2]"),
    ("  n_steps: 3", "  n_steps:"),
    ("  n_steps: 3", "  steps: 3"),  # an alias of max_steps: the catalogue's name, please
])
def test_what_a_custom_file_may_not_say(change, expected):
    old, new = change, expected
    found = errors(GOOD.replace(old, new))
    assert len(found) == 1, found
    assert found[0].startswith("c.yaml:")


@pytest.mark.parametrize("change, expected", [
    (("  n_steps: 3", "  n_steps: .nan"), "c.yaml:5: fixed.n_steps: must be a finite number, but got nan"),
    (("  n_steps: 3", "  n_steps: -.inf"), "c.yaml:5: fixed.n_steps: must be a finite number, but got -inf"),
    (("  act: {choices: [relu, tanh]}", "  act: {choices: [relu, tanh]}\n  mode: {choices: [1.0, .nan]}"),
     "c.yaml:13: space.mode.choices.1: must be a finite number, but got nan"),
    (("  act: {choices: [relu, tanh]}", "  act: {choices: [relu, tanh]}\n  mode: {choices: [.inf, 1]}"),
     "c.yaml:13: space.mode.choices.0: must be a finite number, but got inf"),
    # the catalogue's rule, which the function's own names now share
    (("  batch_size: 16", "  batch_size: .nan"), "c.yaml:7: fixed.batch_size: must be a finite number, but got nan"),
])
def test_nan_and_inf_are_no_value_of_the_function_s_own_names_as_of_the_catalogue_s(change, expected):
    assert errors(GOOD.replace(*change)) == [expected]


def test_the_messages_name_the_rule_and_the_fix():
    found = errors(GOOD.replace("  hidden: {type: int, low: 8, high: 64, log: true}", "  hidden: {low: 8, high: 64}")
                   .replace("  n_steps: 3", "  lr: 0.1"))
    assert found == [
        "c.yaml:5: fixed.lr: unknown hyperparameter 'lr' (it is called learning_rate here)",
        "c.yaml:10: space.hidden: hidden is not in hpsearch's catalogue, so it has no documented range: give "
        "{type: float, low: ..., high: ...} (or type: int) or {choices: [...]}",
    ]


def test_metric_direction_and_entry_are_required():
    found = errors("study: {name: own}\ntask: {type: custom}\n")
    assert found == [
        "c.yaml:2: task: entry is missing: a custom task names its training function, \"my_pkg.train:main\" (an "
        "importable module) or \"train.py:main\" (a file beside the space file)",
        "c.yaml:1: study.metric: a custom task needs the metric your training function reports (for example metric: "
        "val_loss)",
    ]
    found = errors("study: {name: own, metric: val_loss}\ntask: {type: custom, entry: t.py:main}\n")
    assert found == ["c.yaml:1: study.direction: a custom task needs direction: maximize or minimize (hpsearch "
                     "cannot know which way val_loss improves)"]


def test_built_in_keys_and_run_quantities_alone_are_refused():
    found = errors("study: {name: own, metric: train_seconds, direction: minimize}\n"
                   "task: {type: custom, entry: t.py:main, model: minilm-l6, report_to: tensorboard}\n")
    assert found == [
        "c.yaml:2: task.model: acts only for hpsearch's built-in task types; your training function loads its own "
        "model and data (remove it)",
        "c.yaml:2: task.report_to: acts only for hpsearch's built-in task types; your training function logs to your "
        "tracker itself (remove it)",
        "c.yaml:1: study.metric: needs at least one metric the task evaluates while training (your function "
        "reports); train_seconds are known only at the end",
    ]


def test_names_of_its_own_stay_errors_on_a_built_in_task():
    found = errors("study: {name: t}\ntask: {dataset: {path: a.csv}}\nspace:\n  hidden: {type: int, low: 8, high: 64}\n")
    assert len(found) == 1 and found[0].startswith("c.yaml:4: space.hidden: unknown hyperparameter 'hidden'")


def test_several_objectives_and_constraints_on_reported_metrics():
    spec = load_text("study: {name: own, metric: [acc, latency_ms], direction: [maximize, minimize], pruner: none,"
                     " constraints: {memory_mb: {max: 100}}}\ntask: {type: custom, entry: t.py:main}\n")
    assert [o.name for o in spec.objectives] == ["acc", "latency_ms"] and spec.metric == "acc"


def test_the_shipped_example_validates():
    spec = load_space(ROOT / "search_spaces" / "custom_pytorch.yaml")
    assert spec.task.type == "custom" and {"hidden_size", "n_layers", "activation"} <= set(spec.space)
