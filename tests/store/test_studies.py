"""hpsearch.store.studies and stored_spec: open, create and copy a study; the space it keeps."""

import optuna
import pytest

from hpsearch.store import stored_spec, studies, trials


def test_copy_prints_its_own_lines_only(made_study):
    import subprocess

    from helpers import COMMAND

    source, destination = "sqlite:///studies/hpsearch.db", f"sqlite:///{made_study}/copy.db"
    result = subprocess.run(COMMAND + ["copy", "made", "--from", source, "--to", destination], capture_output=True,
                            text=True, cwd=made_study, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not Optuna's "[I ...] A new study created in RDB with name: made"
    assert result.stdout.startswith("copied study made (4 trials)")
    assert len(optuna.load_study(study_name="made", storage=destination).trials) == 4


SECRETS = ("FILESECRET", "QUERYSECRET", "SET@SECRET", "SETSECRET")


def secret_spec(max_steps=4):
    """A space whose file and --set both name a storage URL with a password, in several forms."""
    from conftest import MADE_SPACE
    from hpsearch.spec.space import load_text

    text = MADE_SPACE.replace("n_trials: 3", "n_trials: 3\n  storage: 'postgresql://f:FILESECRET@h/db?password=QUERYSECRET'")
    return load_text(text.replace("max_steps: 4", f"max_steps: {max_steps}"), file="s.yaml",
                     overrides=["study.storage=postgresql://u:SET@SECRET@h/db", "study.n_trials=2"])


def shows_a_secret(value) -> bool:
    import json

    text = json.dumps(value, default=str)
    return any(secret in text for secret in SECRETS)


def test_the_stored_space_holds_no_password_and_the_difference_shows_none(tmp_path):
    from hpsearch.errors import StudyError

    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db")
    study = studies.open_study(secret_spec(), storage)
    assert not shows_a_secret(study.user_attrs), study.user_attrs
    assert study.user_attrs[stored_spec.ATTR_OVERRIDES][0] == "study.storage=postgresql://u:***@h/db"
    studies.open_study(secret_spec(), storage)  # the same space again: not taken for another one
    with pytest.raises(StudyError, match="different space") as refused:
        studies.open_study(secret_spec(max_steps=5), storage)
    assert "max_steps: 5" in str(refused.value) and not shows_a_secret(str(refused.value))
    assert not shows_a_secret(stored_spec.load_stored_spec("made", storage).text)


def test_a_password_stored_by_an_older_hpsearch_is_masked_on_the_next_run_and_never_copied(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = studies.open_study(secret_spec(), studies.storage_for(url))
    study.set_user_attr(stored_spec.ATTR_SPEC, secret_spec().text)  # as hpsearch wrote it before masking everything
    study.set_user_attr(stored_spec.ATTR_OVERRIDES, list(secret_spec().overrides))
    copied = f"sqlite:///{tmp_path}/copy.db"
    studies.copy("made", url, copied)
    assert not shows_a_secret(optuna.load_study(study_name="made", storage=copied).user_attrs)
    assert shows_a_secret(study.user_attrs)  # the copy only read its source
    studies.open_study(secret_spec(), studies.storage_for(url))
    assert not shows_a_secret(optuna.load_study(study_name="made", storage=url).user_attrs)


def _open_at_once(url, text, barrier, errors):
    """One `hpsearch run` starting at the same moment as others on a database file that does not exist yet."""
    from hpsearch.spec.space import load_text

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
        assert study.user_attrs[stored_spec.ATTR_SPEC] == QUICK


def _source(tmp_path, trials=10):
    """A database holding study "t" (the QUICK space) with `trials` finished trials; its URL."""
    from conftest import QUICK
    from hpsearch.spec.space import load_text

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
    from hpsearch.store.tables import Tables

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
        stored_spec.load_stored_spec("t", studies.storage_for(destination))
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
    target.set_study_system_attr(partial, studies.ATTR_COPYING, trials.owner_record())  # this process: alive
    with pytest.raises(StudyError, match="is being copied"):
        studies.copy("t", source, destination)
    assert _names(destination) == ["t (incomplete copy)"]
