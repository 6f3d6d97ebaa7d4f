"""hpsearch.study: storage helpers."""

import optuna
import pytest

from hpsearch import study as studies


@pytest.mark.parametrize("where", ["sqlite", "memory"])
def test_set_user_attrs_records_every_key_at_once(tmp_path, where):
    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db") if where == "sqlite" else None
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    attrs = {"history": [[1, 0.5], [2, 0.6]], "train_seconds": 1.5, "stop_reason": "completed", "config": {"a": 1}}
    studies.set_user_attrs(study, trial._trial_id, attrs)
    studies.set_user_attrs(study, trial._trial_id, {"train_seconds": 2.0})  # a later value replaces the first
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == {**attrs, "train_seconds": 2.0}


def test_set_user_attrs_refuses_a_finished_trial(tmp_path):
    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError):  # Optuna's own rule: a finished trial is never changed
        studies.set_user_attrs(study, trial._trial_id, {"late": 1})
    assert study.trials[0].user_attrs == {}


def _open_at_once(url, text, barrier, errors):
    """One `hpsearch run` starting at the same moment as others on a database file that does not exist yet."""
    from hpsearch.space import load_text

    try:
        spec = load_text(text)
        barrier.wait(timeout=60)
        studies.open_study(spec, studies.storage_for(url))
    except BaseException as exc:  # noqa: BLE001 - the test reports every failure
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_creating_one_new_sqlite_file_at_once_all_succeed(tmp_path):
    import multiprocessing

    from conftest import QUICK

    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for attempt in range(6):
        url = f"sqlite:///{tmp_path}/new{attempt}.db"
        barrier = context.Barrier(4)
        processes = [context.Process(target=_open_at_once, args=(url, QUICK, barrier, errors)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        failures = [errors.get() for _ in range(errors.qsize())]
        assert not failures and all(p.exitcode == 0 for p in processes), (attempt, failures)
        study = optuna.load_study(study_name="t", storage=studies.storage_for(url, create=False))
        assert study.user_attrs[studies.ATTR_SPEC] == QUICK


def _source(tmp_path, trials=10):
    """A database holding study "t" (the QUICK space) with `trials` finished trials; its URL."""
    from conftest import QUICK
    from hpsearch.space import load_text

    url = f"sqlite:///{tmp_path}/source.db"
    study = studies.open_study(load_text(QUICK), studies.storage_for(url))
    for number in range(trials):
        trial = study.ask()
        trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        study.tell(trial, number / 10)
    return url


def _copy_killed_after(trials, source, destination):
    """`hpsearch copy`, killed with SIGKILL once `trials` trials are in (run in a forked process)."""
    import os
    import signal

    create = optuna.storages.RDBStorage._create_new_trial  # under Optuna's public create_new_trial and its cache
    made = []

    def create_then_die(self, *args, **kwargs):
        if len(made) == trials:
            os.kill(os.getpid(), signal.SIGKILL)
        made.append(1)
        return create(self, *args, **kwargs)

    optuna.storages.RDBStorage._create_new_trial = create_then_die
    studies.copy("t", source, destination)


def _names(url):
    from hpsearch.tables import Tables

    return [s.name for s in Tables.open(url).studies()]


def test_a_copy_killed_on_the_way_leaves_no_study_and_the_next_copy_completes(tmp_path):
    import multiprocessing

    from hpsearch.errors import StudyError

    source, destination = _source(tmp_path), f"sqlite:///{tmp_path}/destination.db"
    process = multiprocessing.get_context("fork").Process(target=_copy_killed_after, args=(3, source, destination))
    process.start()
    process.join(timeout=120)
    assert process.exitcode == -9
    assert _names(destination) == ["t (incomplete copy)"]  # never presented as study t
    with pytest.raises(StudyError, match="no study 't'"):
        studies.load_stored_spec("t", studies.storage_for(destination))
    assert studies.copy("t", source, destination) == 10  # replaces the incomplete copy
    assert _names(destination) == ["t"]
    copied = optuna.load_study(study_name="t", storage=studies.storage_for(destination))
    original = optuna.load_study(study_name="t", storage=studies.storage_for(source))
    assert [(t.params, t.values) for t in copied.trials] == [(t.params, t.values) for t in original.trials]
    assert copied.user_attrs == original.user_attrs
    assert studies.ATTR_COPYING not in copied._storage.get_study_system_attrs(copied._study_id)


def test_a_copy_under_way_in_a_live_process_is_left_alone(tmp_path):
    from hpsearch.errors import StudyError

    source, destination = _source(tmp_path, trials=2), f"sqlite:///{tmp_path}/destination.db"
    target = studies.storage_for(destination)
    partial = target.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "t" + studies.INCOMPLETE)
    target.set_study_system_attr(partial, studies.ATTR_COPYING, studies.owner_record())  # this process: alive
    with pytest.raises(StudyError, match="is being copied"):
        studies.copy("t", source, destination)
    assert _names(destination) == ["t (incomplete copy)"]
