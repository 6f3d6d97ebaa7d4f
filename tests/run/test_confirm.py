"""confirm: the best configurations re-trained under other seeds, recorded on the study, and the verdict."""

import optuna
import pytest
from optuna.distributions import FloatDistribution

from helpers import hpsearch
from hpsearch.errors import StudyError, UsageError
from hpsearch.run import confirm as confirming
from hpsearch.run import protocol
from hpsearch.run.confirm import ATTR_CONFIRM, Confirmed, _verdict
from hpsearch.spec.space import load_text
from hpsearch.store.studies import storage_for
from hpsearch.store.trial_result import ranked

SPEC = load_text("study: {name: s, seed: 0}\ntask: {dataset: {path: d.csv}}\n")


def test_verdict_needs_the_difference_to_beat_the_noise():
    clear = _verdict([Confirmed(1, {0: 0.90, 1: 0.91, 2: 0.89}), Confirmed(2, {0: 0.70, 1: 0.71, 2: 0.69})],
                     "maximize")
    assert clear.winner == 1 and clear.p_value < 0.05
    noisy = _verdict([Confirmed(1, {0: 0.90, 1: 0.60, 2: 0.80}), Confirmed(2, {0: 0.85, 1: 0.65, 2: 0.70})],
                     "maximize")
    assert noisy.winner is None and noisy.p_value > 0.05
    assert _verdict([Confirmed(1, {0: 0.2, 1: 0.3}), Confirmed(2, {0: 0.5, 1: 0.6})], "minimize").confirmed[0].number == 1


def test_verdict_without_spread_and_with_one_run():
    assert _verdict([Confirmed(1, {0: 0.9, 1: 0.9}), Confirmed(2, {0: 0.8, 1: 0.8})], "maximize").winner == 1
    assert _verdict([Confirmed(1, {0: 0.9, 1: 0.9}), Confirmed(2, {0: 0.9, 1: 0.9})], "maximize").p_value == 1.0
    alone = _verdict([Confirmed(1, {0: 0.9}), Confirmed(2, {0: 0.8})], "maximize")
    assert alone.winner is None and alone.notes == ["too few runs to tell"]


def study_of(tmp_path, values, feasible=None, name="s"):
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize")
    for i, value in enumerate(values):
        attrs = {"config": {"dropout": i / 10}} | ({"feasible": feasible[i]} if feasible else {})
        study.add_trial(optuna.trial.create_trial(params={"dropout": i / 10}, value=value, user_attrs=attrs,
                                                  distributions={"dropout": FloatDistribution(0.0, 1.0)}))
    return study


def test_confirm_trains_the_leaders_under_each_seed_once_and_names_the_winner(tmp_path, monkeypatch):
    study = study_of(tmp_path, [0.70, 0.90, 0.85, 0.60], feasible=[True, True, False, True])
    runs = []
    scores = {1: {1: 0.91, 2: 0.89}, 0: {1: 0.69, 2: 0.71}}  # trial 2 is infeasible: trial 0 is the runner-up

    def train(spec, trial, seed):
        runs.append((trial.number, seed, spec.study.seed))
        return scores[trial.number][seed]

    monkeypatch.setattr(confirming, "_train", train)
    verdict = confirming.confirm(study, SPEC, top=2, seeds=2, progress=lambda line: None)
    assert sorted(runs) == [(0, 1, 0), (0, 2, 0), (1, 1, 0), (1, 2, 0)]
    assert [c.number for c in verdict.confirmed] == [1, 0] and verdict.winner == 1
    assert verdict.confirmed[0].values == {0: 0.90, 1: 0.91, 2: 0.89}  # the original run under the study's seed
    assert study.user_attrs[ATTR_CONFIRM] == {"1": {"1": 0.91, "2": 0.89}, "0": {"1": 0.69, "2": 0.71}}
    runs.clear()
    assert confirming.confirm(study, SPEC, top=2, seeds=2, progress=lambda line: None).winner == 1
    assert runs == []  # recorded runs are not trained again


def test_confirm_refuses_what_it_cannot_compare(tmp_path):
    with pytest.raises(UsageError, match="--top must be at least 2"):
        confirming.confirm(study_of(tmp_path, [0.5, 0.6]), SPEC, top=1, seeds=2)
    with pytest.raises(StudyError, match="has 1 complete trials; confirm needs two"):
        confirming.confirm(study_of(tmp_path, [0.5], name="one"), SPEC, top=2, seeds=2)


def test_confirm_reruns_the_best_under_other_seeds_and_records_them(stored_studies):
    """The real command, real training: what it stores and prints, not which trial wins (that depends on
    the machine's arithmetic under each seed)."""
    result = hpsearch("confirm", "beta", "--storage", stored_studies.storage, "--top", "2", "--seeds", "2", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "under 3 seeds" in result.stdout
    study = optuna.load_study(study_name="beta", storage=storage_for(stored_studies.storage))
    leaders = ranked(study)[:2]
    recorded = study.user_attrs[ATTR_CONFIRM]
    assert set(recorded) == {str(t.number) for t in leaders}
    assert all(set(runs) == {"1", "2"} and all(0 <= v <= 1 for v in runs.values()) for runs in recorded.values())
    # the verdict printed is the one the recorded runs and the trials' own values give, whichever it is
    expected = _verdict([Confirmed(t.number, {-1: t.value} | {int(s): v for s, v in recorded[str(t.number)].items()})
                         for t in leaders], study.direction.name.lower())
    first, second = expected.confirmed
    verdict = [line for line in result.stdout.splitlines() if "wins beyond the noise" in line]
    if expected.winner is not None:
        assert verdict == [f"trial {expected.winner} wins beyond the noise (Welch's t-test against trial "
                           f"{second.number}: p = {expected.p_value:.3f})"]
    else:
        assert len(verdict) == 1 and verdict[0].startswith(
            f"no configuration wins beyond the noise: trials {first.number} and {second.number} are within it (")
    again = hpsearch("confirm", "beta", "--storage", stored_studies.storage, "--top", "2", "--seeds", "2")
    assert again.returncode == 0 and "under seed" not in again.stderr  # recorded runs are not trained again


def test_a_confirmation_run_logs_no_tracker_run(tmp_path, monkeypatch):
    """Confirmation runs are not trials: with task.report_to, the Trainer of each still logs nowhere, so no tracker
    gets a run named after a trial that is not one (and the trials' own logging is untouched)."""
    from hpsearch.train import trackers

    tracked = load_text("study: {name: s}\ntask: {dataset: {path: d.csv}, report_to: [tensorboard]}\n")
    study = study_of(tmp_path, [0.7, 0.9])
    jobs = []

    def spawn(target, job, name):
        jobs.append(job)
        raise RuntimeError("captured")

    monkeypatch.setattr(protocol, "spawn", spawn)
    with pytest.raises(RuntimeError, match="captured"):
        confirming._train(tracked, ranked(study)[0], seed=3)
    (job,) = jobs
    assert job.spec.study.seed == 3 and job.spec.task.report_to == []
    assert trackers.arguments(job) == {"report_to": "none", "logging_strategy": "no"}
    assert tracked.task.report_to == ["tensorboard"]
