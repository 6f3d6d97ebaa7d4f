"""Optuna's tables read directly: the same trials, states, values and parameters Optuna itself reads."""

import optuna
import pytest
from optuna.distributions import FloatDistribution

from helpers import check_tables_read_what_optuna_reads, fill
from hpsearch.errors import StorageError, StudyError
from hpsearch.store import database as database_module
from hpsearch.store.tables import Tables


@pytest.fixture
def database(tmp_path):
    return fill(f"sqlite:///{tmp_path / 'tables.db'}")


def test_tables_read_what_optuna_reads(database):
    check_tables_read_what_optuna_reads(database)


def test_an_unknown_study_names_the_ones_there_are(database):
    with pytest.raises(StudyError, match=r"no study 'three' in this database \(it has: one, two\)"):
        Tables.open(database).study("three")


@pytest.mark.parametrize("content, error, message", [
    (None, StudyError, "no study database at"),
    (b"", StudyError, "holds no Optuna tables"),
    (b"this is not a database" * 100, StorageError, "not an SQLite database"),
])
def test_what_cannot_be_read_says_why(tmp_path, content, error, message):
    path = tmp_path / "x.db"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=message):
        Tables.open(f"sqlite:///{path}")
    if content is None:  # nothing was written: no file appeared, or the one there kept its bytes
        assert not path.exists()
    else:
        assert path.read_bytes() == content
    # no statement is left waiting: one would be said as "waiting for the database ..." seconds later, in
    # whatever the process did next
    assert not [wait for wait in database_module._waits.values() if wait[1] == str(path)]


def test_a_url_hpsearch_cannot_use_is_refused():
    with pytest.raises(StudyError, match="in-memory SQLite"):
        Tables.open("sqlite:///:memory:")


def test_tables_of_another_optuna_version_say_so(database):
    import sqlite3

    from sqlalchemy.engine import make_url

    with sqlite3.connect(make_url(database).database) as connection:
        connection.execute("ALTER TABLE trials RENAME COLUMN state TO status")
    with pytest.raises(StorageError, match="written by another version of Optuna"):
        Tables.open(database).counts()


def test_infinite_values_are_read_as_optuna_reads_them(tmp_path):
    """Optuna stores an infinite value as NULL with its sign in value_type: read back, it is -inf or inf."""
    from hpsearch.results import summary as results

    url = f"sqlite:///{tmp_path / 'inf.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="inf", storage=url, direction="minimize")
    distributions = {"x": FloatDistribution(0.0, 1.0)}
    for number, value in enumerate([float("inf"), float("-inf"), 1e308, 1.0, 2.0]):
        study.add_trial(optuna.trial.create_trial(params={"x": number / 10}, distributions=distributions,
                                                  value=value))
    tables = Tables.open(url)
    [stored] = tables.studies()
    assert [t.value for t in tables.light_trials(stored.study_id)] == [t.value for t in study.trials]
    assert tables.value_range()[stored.study_id] == (float("-inf"), float("inf"))
    [row] = results.list_studies(tables)
    assert row.best == [study.best_value] == [float("-inf")]
    [compared] = results.compare(tables, ["inf"])
    assert compared.best == [float("-inf")] and compared.best_params == {"x": 0.1}
    assert "too few" not in compared.importance_note  # all five complete trials count
