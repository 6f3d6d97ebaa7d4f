"""hpsearch.spec.start_with: known configurations checked against the space, and read from `best -f json`."""

import json
import os
import threading

import pytest

from hpsearch.errors import SpaceError
from hpsearch.spec import start_with
from hpsearch.spec.space import load_text

SPACE = """
study:
  name: s
  n_trials: 4
  start_with: {configs}
task: {{model: minilm-l6}}
fixed: {{batch_size: 16}}
space:
  learning_rate: {{low: 1.0e-5, high: 1.0e-3, log: true}}
  optimizer: {{choices: [adamw, sgd]}}
  momentum: {{low: 0.0, high: 0.9, step: 0.1}}
  weight_decay: {{choices: [0.0, 0.01]}}
  gradient_accumulation_steps: {{low: 1, high: 4}}
"""


def spec_with(configs: str):
    return load_text(SPACE.format(configs=configs), file="s.yaml")


@pytest.mark.parametrize("configs, expected", [
    ("[{learning_rate: 3.0e-5}]", [{"learning_rate": 3e-5}]),
    ("[{optimizer: sgd, momentum: 0.5}]", [{"optimizer": "sgd", "momentum": 0.5}]),
    ("[{gradient_accumulation_steps: 2.0}]", [{"gradient_accumulation_steps": 2}]),  # as the entry samples it
    ("[{weight_decay: 0.01}, {learning_rate: 1.0e-4, weight_decay: 0.0}]",
     [{"weight_decay": 0.01}, {"learning_rate": 1e-4, "weight_decay": 0.0}]),
])
def test_valid_configurations_are_labelled_in_order(configs, expected):
    labelled = start_with.labelled(spec_with(configs))
    assert [values for _, values in labelled] == expected
    assert [label for label, _ in labelled] == [f"study.start_with.{i}" for i in range(len(expected))]
    assert all(type(a) is type(b) for got, want in zip(labelled, expected, strict=True)
               for a, b in zip(got[1].values(), want.values(), strict=True))


@pytest.mark.parametrize("configs, line", [
    ("[{learning_rate: 5.0}]", "s.yaml:5: study.start_with.0.learning_rate: (5) lies outside the searched range"),
    ("[{learning_rate: fast}]", "study.start_with.0.learning_rate: must be a number, but got 'fast'"),
    ("[{gradient_accumulation_steps: 1.5}]", "must be an integer for an int entry, but got 1.5"),
    ("[{optimizer: adam}]", "study.start_with.0.optimizer: must be one of adamw, sgd, but got 'adam'"),
    ("[{weight_decay: true}]", "must be one of 0.0, 0.01, but got True"),
    ("[{optimizer: sgd, momentum: 0.55}]", "(0.55) is not on the range's step"),
    ("[{momentum: 0.5}]", "momentum: is sampled only when optimizer is sgd: give optimizer: sgd"),
    ("[{optimizer: adamw, momentum: 0.5}]", "is sampled only when optimizer is sgd, and this configuration sets adamw"),
    ("[{batch_size: 32}]", "study.start_with.0.batch_size: is fixed (batch_size: 16 under fixed:)"),
    ("[{dropout: 0.1}]", "study.start_with.0.dropout: is not searched in this space"),
    ("[{learning_rat: 1.0e-4}]", "unknown entry 'learning_rat' (did you mean learning_rate?)"),
    ("[{}]", "study.start_with.0: must map searched entries to values"),
    ("[{learning_rate: 1.0e-4}, {learning_rate: 1.0e-4}]", "study.start_with.1: repeats configuration 0"),
    ("[3]", "study.start_with.0: input should be a valid dictionary"),
    ("{learning_rate: 1.0e-4}", "study.start_with: input should be a valid list"),
])
def test_bad_configurations_name_the_file_line_and_key(configs, line):
    with pytest.raises(SpaceError) as error:
        spec_with(configs)
    assert line in str(error.value)
    assert str(error.value).startswith("s.yaml:5: study.start_with")
    assert error.value.exit_code == 2


def test_more_configurations_than_the_budget_warn():
    spec = spec_with("[" + ", ".join(f"{{learning_rate: {i}.0e-4}}" for i in range(1, 6)) + "]")
    assert any("lists 5 configurations, and n_trials is 4: only the first 4 run" in str(w) for w in spec.warnings)


def best_record(config: dict) -> dict:
    return {"study": "old", "trial": 3, "objectives": {"eval_accuracy": 0.9}, "searched": {},
            "config": config, "metrics": {}, "model_dir": None}


def test_a_best_file_gives_the_values_this_space_searches(tmp_path):
    spec = spec_with("[]")
    path = tmp_path / "best.json"
    path.write_text(json.dumps(best_record({"learning_rate": 2e-4, "dropout": 0.1, "batch_size": 32,
                                            "optimizer": "sgd", "momentum": 0.3})))
    assert start_with.from_best_file(str(path), spec.space, spec.fixed) == [
        {"learning_rate": 2e-4, "optimizer": "sgd", "momentum": 0.3}]


def test_a_pareto_front_gives_one_configuration_per_distinct_trial(tmp_path):
    spec = spec_with("[]")
    path = tmp_path / "best.json"
    front = [best_record({"learning_rate": 1e-4}), best_record({"learning_rate": 1e-4, "dropout": 0.2}),
             best_record({"learning_rate": 2e-4})]
    path.write_text(json.dumps({"pareto_front": front}))
    assert start_with.from_best_file(str(path), spec.space, spec.fixed) == [{"learning_rate": 1e-4},
                                                                            {"learning_rate": 2e-4}]


@pytest.mark.parametrize("text, message", [
    ("{not json", "best.json: is not JSON"),
    ('{"trial": 3}', "best.json: is not what `hpsearch best NAME -f json` writes"),
    ("[1, 2]", "best.json: is not what `hpsearch best NAME -f json` writes"),
    ('{"pareto_front": []}', "best.json: is not what `hpsearch best NAME -f json` writes"),
    (json.dumps(best_record({"dropout": 0.1})), "best.json: config: gives none of the entries this space searches"),
    (json.dumps(best_record({"learning_rate": 0.5})), "best.json: config.learning_rate: (0.5) lies outside"),
    (json.dumps({"pareto_front": [best_record({"learning_rate": 1e-4}), best_record({"learning_rate": 0.5})]}),
     "best.json: pareto_front.1.config.learning_rate: (0.5) lies outside"),
])
def test_a_bad_best_file_fails_with_one_line(tmp_path, text, message):
    spec = spec_with("[]")
    path = tmp_path / "best.json"
    path.write_text(text)
    with pytest.raises(SpaceError) as error:
        start_with.from_best_file(str(path), spec.space, spec.fixed)
    assert str(error.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message.split(": ", 1)[1] in str(error.value) and "\n" not in str(error.value)


def test_a_missing_best_file_fails_with_one_line(tmp_path):
    spec = spec_with("[]")
    with pytest.raises(SpaceError, match="best.json: no such file"):
        start_with.from_best_file(str(tmp_path / "best.json"), spec.space, spec.fixed)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.symlink_to("/dev/zero"), "best.json: is not a regular file (a device, a pipe or a socket)"),
    (lambda p: os.mkfifo(p), "best.json: is not a regular file (a device, a pipe or a socket)"),
    (lambda p: p.mkdir(), "best.json: is a folder"),
    (lambda p: p.write_text(" " * 1_000_001), "best.json: holds more than 1000000 bytes"),
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "best.json: is nested too deeply"),
])
def test_a_hostile_best_file_is_one_line_at_once(tmp_path, make, message):
    spec = spec_with("[]")
    path = tmp_path / "best.json"
    make(path)
    outcome: list[BaseException] = []

    def read():
        try:
            start_with.from_best_file(str(path), spec.space, spec.fixed)
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever came out
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)  # a pipe read would wait for a writer forever
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading the file hangs"
    assert len(outcome) == 1 and isinstance(outcome[0], SpaceError), outcome
    text = str(outcome[0])
    assert text.startswith(str(tmp_path / "best.json")) and message.split(": ", 1)[1] in text and "\n" not in text
