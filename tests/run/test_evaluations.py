"""hpsearch.run.evaluations: a running trial's evaluations, answered without a database round trip where the
pruner cannot prune, and all written by the end."""

import optuna
import pytest

from hpsearch.run import evaluations
from hpsearch.run.evaluations import Evaluations
from hpsearch.store import studies


@pytest.fixture
def study(tmp_path):
    def make(pruner):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"), direction="maximize",
                                   pruner=pruner)
    return make


def test_before_the_start_up_trials_the_pruner_is_not_asked_and_the_values_wait(study, monkeypatch):
    made = study(optuna.pruners.MedianPruner())
    monkeypatch.setattr(optuna.pruners.MedianPruner, "prune", lambda *a: pytest.fail("asked before start-up"))
    kept, trial = Evaluations(made, {"name": "median"}), made.ask()
    assert [kept.report(trial, step, 0.5) for step in range(50)] == [False] * 50
    assert made.trials[0].intermediate_values == {}  # held in memory: no commit a report
    kept.flush(trial)
    assert made.trials[0].intermediate_values == {step: 0.5 for step in range(50)}


def test_the_values_are_written_once_the_oldest_has_waited(study, monkeypatch):
    made = study(optuna.pruners.NopPruner())
    kept, trial = Evaluations(made, {"name": "none"}), made.ask()
    kept.report(trial, 1, 0.5)
    kept.flush_due(trial)
    assert made.trials[0].intermediate_values == {}
    monkeypatch.setattr(evaluations, "FLUSH_S", 0.0)
    kept.report(trial, 2, 0.6)
    assert made.trials[0].intermediate_values == {1: 0.5, 2: 0.6}


def test_the_pruner_is_asked_once_it_may_prune_with_the_held_values(study):
    made = study(optuna.pruners.PercentilePruner(50.0, n_startup_trials=1))
    made.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={1: 0.9, 2: 0.9}))
    kept, trial = Evaluations(made, {"name": "percentile", "percentile": 50.0, "n_startup_trials": 1}), made.ask()
    assert kept.report(trial, 1, 0.95) is False
    assert kept.report(trial, 2, 0.1) is False  # its best so far, 0.95, is above the finished trial's 0.9
    low = made.ask()
    assert kept.report(low, 1, 0.1) is True  # the count read at its first report: one trial finished


def test_a_report_of_several_objectives_is_neither_judged_nor_written(study):
    made = study(optuna.pruners.ThresholdPruner(lower=1.0))
    kept, trial = Evaluations(made, {"name": "threshold", "lower": 1.0}, judged=False), made.ask()
    assert kept.report(trial, 1, 0.0) is False and not kept.pending
