"""Optuna's tables read directly: the same trials, states, values and parameters Optuna itself reads."""

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpsearch.errors import StorageError, StudyError
from hpsearch.tables import Tables


def fill(url: str) -> str:
    """Two studies written through Optuna: one maximized with every state, one with two objectives."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="one", storage=url, direction="maximize")
    study.set_user_attr("metric", "eval_accuracy")
    distributions = {"lr": FloatDistribution(1e-5, 1e-2, log=True), "layers": IntDistribution(1, 4),
                     "schedule": CategoricalDistribution(["linear", "cosine"])}
    for number, state in enumerate([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]):
        params = {"lr": 10 ** -(number + 2), "layers": number + 1, "schedule": ["linear", "cosine"][number % 2]}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=distributions, state=state,
            value=0.5 + number / 10 if state == TrialState.COMPLETE else None,
            user_attrs={"train_seconds": 2.5 * number, "stop_step": 10, "config": {"ignored": True},
                        "feasible": number != 3},
            intermediate_values={10: 0.4} if state == TrialState.PRUNED else None))
    study.enqueue_trial({"lr": 1e-3})  # a WAITING trial without values or parameters
    optuna.create_study(study_name="two", storage=url, directions=["minimize", "maximize"])
    return url


@pytest.fixture
def database(tmp_path):
    return fill(f"sqlite:///{tmp_path / 'tables.db'}")


def check_tables_read_what_optuna_reads(url: str) -> None:
    """Every reader of Tables against Optuna's own view of the studies `fill` wrote."""
    tables = Tables.open(url)
    stored = {s.name: s for s in tables.studies()}
    assert list(stored) == ["one", "two"]
    assert stored["one"].directions == ["maximize"] and stored["one"].user_attrs == {"metric": "eval_accuracy"}
    assert stored["two"].directions == ["minimize", "maximize"]
    one = stored["one"].study_id
    light = tables.light_trials(one)
    trials = optuna.load_study(study_name="one", storage=url).trials
    assert [t.number for t in light] == [t.number for t in trials]
    for mine, theirs in zip(light, trials, strict=True):
        assert mine.state == theirs.state.name
        assert mine.value == (theirs.values[0] if theirs.values else None)
        assert mine.params == theirs.params and mine.distributions == theirs.distributions
        assert set(mine.user_attrs) <= {"train_seconds", "stop_step", "feasible"}  # only what compare reads
        assert all(mine.user_attrs[k] == theirs.user_attrs[k] for k in mine.user_attrs)
    assert tables.counts()[one] == {"COMPLETE": 2, "PRUNED": 1, "FAIL": 1, "WAITING": 1}
    assert tables.value_range()[one] == (0.5, 0.5)  # the 0.8 trial is infeasible
    assert one in tables.last_activity()


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
    assert content is None or path.read_bytes() == content  # nothing was written


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
    from hpsearch import results

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
