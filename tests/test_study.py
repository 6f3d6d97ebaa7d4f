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
