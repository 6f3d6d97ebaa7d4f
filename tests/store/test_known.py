"""hpsearch.store.known: known configurations queued once per study, marked on their trials."""

import multiprocessing

import optuna
from optuna.trial import TrialState

from hpsearch.store import known, trials
from hpsearch.store.studies import storage_for

CONFIGS = [("study.start_with.0", {"x": 0.5}), ("study.start_with.1", {"x": 0.25, "y": 2})]


def objective(trial):
    return trial.suggest_float("x", 0, 1) + trial.suggest_int("y", 0, 3)


def study_at(url):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name="s", storage=storage_for(url), load_if_exists=True,
                               sampler=optuna.samplers.RandomSampler(seed=0))


def test_configurations_run_first_once_and_marked(tmp_path):
    url = f"sqlite:///{tmp_path}/db.sqlite"
    study = study_at(url)
    notes = known.enqueue(study, CONFIGS, tmp_path / "s.lock")
    assert len(notes) == 2 and notes[0].startswith("queued study.start_with.0 to run first: x=0.5")
    study.optimize(objective, n_trials=1)
    assert known.enqueue(study_at(url), CONFIGS, tmp_path / "s.lock") == []  # a resume: nothing queued again
    study.optimize(objective, n_trials=3)
    ran = study.get_trials()
    assert [t.params["x"] for t in ran[:2]] == [0.5, 0.25] and ran[1].params["y"] == 2
    assert ran[0].params["y"] in range(4)  # a partial configuration: the rest sampled
    assert [t.user_attrs.get(known.START_WITH) for t in ran] == ["study.start_with.0", "study.start_with.1", None, None]
    assert len(ran) == 4 and all(t.state == TrialState.COMPLETE for t in ran)


def test_a_configuration_added_later_is_queued_then(tmp_path):
    url = f"sqlite:///{tmp_path}/db.sqlite"
    study = study_at(url)
    known.enqueue(study, CONFIGS[:1], tmp_path / "s.lock")
    study.optimize(objective, n_trials=2)
    notes = known.enqueue(study, CONFIGS + [("best.json", {"x": 0.75})], tmp_path / "s.lock")
    assert [n.split(" to")[0] for n in notes] == ["queued study.start_with.1", "queued best.json"]
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 2


def _enqueue_in_process(url, lock, barrier):
    barrier.wait()
    known.enqueue(study_at(url), CONFIGS, lock)


def test_processes_opening_one_study_together_queue_each_configuration_once(tmp_path):
    url = f"sqlite:///{tmp_path}/db.sqlite"
    study_at(url)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    processes = [context.Process(target=_enqueue_in_process, args=(url, tmp_path / "s.lock", barrier))
                 for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    queued = study_at(url).get_trials(states=(TrialState.WAITING,))
    assert sorted(t.user_attrs[known.START_WITH] for t in queued) == ["study.start_with.0", "study.start_with.1"]


def test_an_interrupted_configuration_reruns_once_with_its_mark(tmp_path):
    url = f"sqlite:///{tmp_path}/db.sqlite"
    study = study_at(url)
    known.enqueue(study, CONFIGS[:1], tmp_path / "s.lock")
    trial = study.ask()
    trials.fail_trial(study, trial, "interrupted", rerun=True)
    trials.recover(study)
    assert known.enqueue(study, CONFIGS[:1], tmp_path / "s.lock") == []
    retry = study.get_trials(states=(TrialState.WAITING,))
    assert len(retry) == 1 and retry[0].user_attrs[known.START_WITH] == "study.start_with.0"
    assert retry[0].user_attrs[trials.ATTR_RETRY_OF] == trial.number
