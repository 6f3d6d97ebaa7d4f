"""Several trials at once: each its own process and share of the machine, one SQLite file, no lost writes (the loop's
scheduling with zero-cost trials: hpsearch.run.targets.ZERO_COST)."""

import multiprocessing

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.run.study_loop import run_study
from hpsearch.run.targets import ZERO_COST
from hpsearch.spec.space import load_space
from hpsearch.store.studies import storage_for


def test_n_jobs_runs_trials_at_once_in_separate_processes(zero_project):
    path = zero_project(n_trials=4)
    summary = run_study(load_space(path).with_budget(n_jobs=2), target=ZERO_COST)
    assert summary.finished == 4
    study = optuna.load_study(study_name="tiny", storage=storage_for(zero_project.storage))
    trials = study.get_trials()
    assert all(t.state == TrialState.COMPLETE for t in trials), [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 4
    assert all(t.user_attrs["threads"] == 1 for t in trials)  # 2 cores shared by 2 trials
    overlapping = [(a.number, b.number) for a in trials for b in trials
                   if a.number < b.number and b.datetime_start < a.datetime_complete]
    assert overlapping, "no two trials ran at the same time"


def test_parallel_trials_sample_different_points(zero_project):
    path = zero_project(n_trials=6)
    path.write_text(path.read_text().replace("{name: random, seed: 0}", "{name: tpe, seed: 0, n_startup_trials: 2}"))
    run_study(load_space(path).with_budget(n_jobs=3), target=ZERO_COST)
    study = optuna.load_study(study_name="tiny", storage=storage_for(zero_project.storage))
    rates = [t.params["learning_rate"] for t in study.get_trials()]
    assert len(set(rates)) == len(rates) == 6  # the constant liar keeps running trials apart


def _hammer(url: str, count: int, errors) -> None:
    """One worker: `count` trivial trials, each with reports and attributes, on a shared SQLite file."""
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name="hammer", storage=storage_for(url))
        for _ in range(count):
            trial = study.ask()
            x = trial.suggest_float("x", -10, 10)
            for step in range(3):
                trial.report(x * step, step)
            trial.set_user_attr("note", "written")
            study.tell(trial, x * x)
    except Exception as exc:  # noqa: BLE001 - the test counts every failed write
        errors.put(repr(exc))


@pytest.mark.slow
def test_four_workers_two_hundred_trials_each_on_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path}/hammer.db"
    optuna.create_study(study_name="hammer", storage=storage_for(url))
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    workers = [context.Process(target=_hammer, args=(url, 200, errors)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=900)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []  # not one "database is locked"
    study = optuna.load_study(study_name="hammer", storage=storage_for(url))
    trials = study.get_trials()
    assert len(trials) == 800 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(len(t.intermediate_values) == 3 and t.user_attrs["note"] == "written" for t in trials)
    assert sorted(t.number for t in trials) == list(range(800))
    print(f"4 workers x 200 trials on one SQLite file: {len(trials)} complete, {len(failures)} failed writes")
