"""store/stored_trial.py: a stored trial read by the field names TrialResult defines."""

import optuna
import pytest

from hpsearch.store import stored_trial
from hpsearch.store.stored_trial import RESULT_FIELDS, StoredTrial
from hpsearch.trial import TrialResult

X = optuna.distributions.FloatDistribution(0.0, 1.0)


def stored(result: TrialResult, **extra) -> optuna.trial.FrozenTrial:
    """A trial as the study process stores it: the result's fields as user attributes (run/outcomes.py)."""
    return optuna.trial.create_trial(params={"x": 0.25}, distributions={"x": X}, value=result.value,
                                     user_attrs={**result.attrs(), **extra})


def test_what_a_worker_stored_reads_back_by_name():
    result = TrialResult("complete", 0.8, best_step=20, stop_reason="stopped_early", stop_step=30,
                         history=[[10, 0.7], [20, 0.8]], best_metrics={"eval_accuracy": 0.8}, train_seconds=12.5,
                         model_dir="/m/trial-0")
    trial = StoredTrial(stored(result, config={"x": 0.25, "max_steps": 40}, feasible=False, start_with="best.json"))
    assert (trial.train_seconds, trial.stop_step, trial.stop_reason, trial.model_dir) == (
        12.5, 30, "stopped_early", "/m/trial-0")
    assert trial.history == [[10, 0.7], [20, 0.8]] and trial.metrics == {"eval_accuracy": 0.8}
    assert trial.config == {"x": 0.25, "max_steps": 40} and trial.params == {"x": 0.25}
    assert trial.feasible is False and trial.start_with == "best.json"


def test_what_a_trial_did_not_store_reads_as_nothing():
    trial = StoredTrial(optuna.trial.create_trial(params={"x": 0.5}, distributions={"x": X}, value=0.1))
    assert trial.model_dir is None and trial.train_seconds is None and trial.history == []
    assert trial.metrics == {} and trial.config == {"x": 0.5}  # no config stored: the sampled values
    assert trial.feasible is True and trial.start_with is None


def test_every_named_field_is_a_field_of_trial_result():
    named = [name for name, value in vars(StoredTrial).items() if isinstance(value, property)]
    assert {"train_seconds", "stop_step", "model_dir", "history"} <= set(named) & RESULT_FIELDS
    with pytest.raises(AttributeError, match="TrialResult has no field 'train_secs'"):
        stored_trial._stored("train_secs")
