"""results/export.py: JSON of trial values is valid JSON, whatever the values."""

import json
import math

import optuna
import pytest

from hpsearch.results import export
from hpsearch.results.summary import best_text


def strict(text: str):
    """`text` read as JSON proper: Python's reader accepts Infinity and NaN, which JSON has not."""
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def odd_study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize")
    dist = optuna.distributions.FloatDistribution(1.0, 1e308)
    study.add_trial(optuna.trial.create_trial(
        params={"scale": 1e308}, distributions={"scale": dist}, value=1.0,
        user_attrs={"config": {"scale": 1e308, "max_grad_norm": math.inf},
                    "best_metrics": {"eval_loss": math.nan, "eval_accuracy": -math.inf}}))
    return study


def test_json_text_writes_non_finite_values_as_null():
    assert strict(export.json_text({"a": [math.inf, -math.inf, math.nan, 1e308], "b": {"c": math.nan}})) == {
        "a": [None, None, None, 1e308], "b": {"c": None}}


def test_best_as_json_is_json_with_null_for_non_finite_values():
    study = odd_study()
    record = strict(best_text(study, [study.best_trial], "json"))
    assert record["config"] == {"scale": 1e308, "max_grad_norm": None}
    assert record["metrics"] == {"eval_loss": None, "eval_accuracy": None}


@pytest.mark.parametrize("format", ["json"])
def test_export_as_json_is_json_with_null_for_non_finite_values(tmp_path, format):
    path = tmp_path / "trials.json"
    assert export.write_trials(odd_study(), format, path) == 1
    [row] = strict(path.read_text())
    assert row["best_metrics.eval_loss"] is None and row["best_metrics.eval_accuracy"] is None
    assert row["param_scale"] == 1e308


def test_rows_name_each_value_column_after_its_objective_even_where_only_the_metric_was_stored():
    """A study stored before `objectives` was: its `metric` names the value (export used to write `value_value`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    old = optuna.create_study(direction="maximize")
    old.set_user_attr("metric", "eval_accuracy")
    old.add_trial(optuna.trial.create_trial(value=0.75, user_attrs={"history": [[5, 0.7], [10, 0.75]]}))
    [row] = export.rows(old)
    assert row["value_eval_accuracy"] == 0.75 and "value_value" not in row
    assert row["n_evaluations"] == 2
    pareto = optuna.create_study(directions=["maximize", "minimize"])
    pareto.set_user_attr("objectives", ["eval_f1", "train_seconds"])
    pareto.add_trial(optuna.trial.create_trial(values=[0.5, 30.0]))
    [row] = export.rows(pareto)
    assert (row["value_eval_f1"], row["value_train_seconds"], row["n_evaluations"]) == (0.5, 30.0, 0)
