"""hpsearch.store.folders: where a database's files live, one folder per database, absolute wherever it runs."""

from pathlib import Path

import pytest

from hpsearch.store.folders import (
    artifacts_root,
    cache_dir,
    database_key,
    files_root,
    log_dir,
    model_dir,
    models_dir,
    trial_number,
)


@pytest.mark.parametrize("url, key", [
    ("sqlite:///studies/hpsearch.db", "hpsearch.db"),
    ("sqlite:////data/runs/other.db", "other.db"),
    ("sqlite:///file:/tmp/a%20b/x.db?mode=ro&uri=true", "x.db"),
    ("postgresql://u:hunter2@db.example:5432/hp", "db.example-5432-hp"),
    ("postgresql://u@db.example/my db?x=1", "db.example-default-my%20db"),
    ("postgresql:///hp", "local-default-hp"),
    ("mysql://u@h", "h-default-default"),
])
def test_database_key_names_a_folder_per_database(url, key):
    assert database_key(url) == key


@pytest.mark.parametrize("one, other", [
    ("sqlite:///studies/a.db", "sqlite:///studies/a.sqlite"),  # one stem, two files
    ("postgresql://u@127.0.0.1:55432/hp", "postgresql://u@127.0.0.1:55433/hp"),  # two servers on one host
    ("postgresql://u@h/my db", "postgresql://u@h/my_db"),
])
def test_two_databases_never_share_a_models_folder(one, other):
    assert database_key(one) != database_key(other)
    assert models_dir(one, "s") != models_dir(other, "s")


def test_models_and_logs_never_share_a_folder_whatever_the_study_name():
    url = "sqlite:////data/hpsearch.db"
    for name in ("runs", "models", "s"):
        models = models_dir(url, name)
        logs = log_dir(url, name, 0).parent
        assert not models.is_relative_to(logs) and not logs.is_relative_to(models), name
        for other in ("runs", "models", "s"):
            assert not log_dir(url, other, 0).is_relative_to(models), (name, other)


def test_every_path_is_absolute_and_the_same_from_any_folder(tmp_path, monkeypatch):
    url = "sqlite:///studies/hpsearch.db"  # relative: to the folder the run starts in
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    found = model_dir(url, "s", 3)
    assert found == tmp_path.resolve() / "studies" / "models" / "hpsearch.db" / "s" / "trial-3"
    monkeypatch.chdir(tmp_path / "sub")
    assert model_dir(f"sqlite:///{tmp_path}/studies/hpsearch.db", "s", 3) == found
    for path in (files_root(url), cache_dir(url), artifacts_root(url), log_dir(url, "s", 3),
                 models_dir("postgresql://u@h:1/hp", "s")):
        assert path.is_absolute(), path


@pytest.mark.parametrize("name, number", [("trial-0", 0), ("trial-12", 12), ("trial-x", None), ("trial-1.tmp", None),
                                          ("s.start_with.lock", None)])
def test_trial_number_reads_a_model_folder_name(name, number):
    assert trial_number(Path("/m") / name) == number
