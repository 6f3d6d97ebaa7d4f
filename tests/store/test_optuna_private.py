"""hpsearch.store.optuna_private: what each use of Optuna's private names does, pinned, so an Optuna upgrade
that moves one fails here."""

import datetime

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.store import optuna_private, studies


@pytest.mark.parametrize("where", ["sqlite", "memory"])
def test_set_trial_user_attrs_records_every_key_at_once(tmp_path, where):
    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db") if where == "sqlite" else None
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    attrs = {"history": [[1, 0.5], [2, 0.6]], "train_seconds": 1.5, "stop_reason": "completed", "config": {"a": 1}}
    optuna_private.set_trial_user_attrs(study, trial, attrs)
    optuna_private.set_trial_user_attrs(study, trial, {"train_seconds": 2.0})  # a later value replaces the first
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == {**attrs, "train_seconds": 2.0}


def test_set_trial_user_attrs_costs_three_statements_whatever_the_number_of_keys(tmp_path):
    from sqlalchemy import event

    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    engine = optuna_private.storage_of(study)._backend.engine
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0].upper()))
    optuna_private.set_trial_user_attrs(study, trial, {f"key{i}": i for i in range(15)})
    assert statements == ["SELECT", "DELETE", "INSERT"]  # Optuna's own helper: a read and an upsert per key
    assert study.trials[0].user_attrs == {f"key{i}": i for i in range(15)}


def test_a_claim_writes_the_attributes_and_the_first_heartbeat_in_one_commit(tmp_path):
    from sqlalchemy import event

    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    engine = optuna_private.storage_of(study)._backend.engine
    commits = []
    event.listen(engine, "commit", lambda connection: commits.append(1))
    optuna_private.set_trial_user_attrs(study, trial, {"owner": "me"}, beat=True)
    assert len(commits) == 1 and study.trials[0].user_attrs == {"owner": "me"}
    with engine.connect() as connection:
        beats = connection.exec_driver_sql("SELECT trial_id, heartbeat FROM trial_heartbeats").fetchall()
    assert [row[0] for row in beats] == [optuna_private.trial_id(trial)]
    beaten = datetime.datetime.fromisoformat(str(beats[0][1]))  # the database's clock, in UTC, as Optuna writes it
    assert abs((datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - beaten).total_seconds()) < 60


def test_set_trial_user_attrs_refuses_a_finished_trial(tmp_path):
    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError):  # Optuna's own rule: a finished trial is never changed
        optuna_private.set_trial_user_attrs(study, trial, {"late": 1})
    assert study.trials[0].user_attrs == {}


def test_study_and_trial_ids_reach_the_storage(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(study_name="s", storage=studies.storage_for(url))
    trial = study.ask()
    storage = optuna_private.storage_of(study)
    assert storage.get_study_id_from_name("s") == optuna_private.study_id(study)
    assert storage.get_trial(optuna_private.trial_id(trial)).number == trial.number


def test_study_system_attrs_are_written_and_read(tmp_path):
    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    optuna_private.set_study_system_attr(study, "hpsearch:mark", {"a": 1})
    again = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{tmp_path}/s.db")
    assert optuna_private.study_system_attrs(again)["hpsearch:mark"] == {"a": 1}


def test_a_finished_trial_is_written_through_the_storage(tmp_path):
    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    trial = study.ask()
    optuna_private.set_trial_user_attr(study, study.trials[0], "owner", "me")  # a FrozenTrial, while it runs
    assert study.trials[0].user_attrs == {"owner": "me"}
    study.tell(trial, 1.0)


def test_heartbeats_exist_only_where_the_storage_keeps_them(tmp_path):
    assert optuna_private.heartbeat_interval(optuna.create_study()) is None
    study = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    assert optuna_private.heartbeat_interval(study) == 30
    trial = study.ask()

    def beats():
        with optuna_private.storage_of(study)._backend.engine.connect() as connection:
            return connection.exec_driver_sql("SELECT trial_id FROM trial_heartbeats").fetchall()

    assert beats() == []
    optuna_private.record_heartbeat(study, trial)
    assert beats() == [(optuna_private.trial_id(trial),)]


def test_constraints_make_a_violating_trial_infeasible():
    study = optuna.create_study(direction="maximize")
    for value, violation in ((0.9, 1.0), (0.5, -1.0)):
        trial = study.ask()
        optuna_private.set_constraints(study, trial, [violation])
        study.tell(trial, value)
    assert study.best_trial.value == 0.5  # the better value breaks its constraint
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


def test_rename_study_renames_and_drops_the_mark_in_one_go(tmp_path):
    from sqlalchemy.exc import IntegrityError

    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db")
    first = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "draft")
    storage.set_study_system_attr(first, "mark", 1)
    storage.set_study_system_attr(first, "kept", 2)
    optuna_private.rename_study(storage, first, "final", drop_system_attr="mark")
    assert storage.get_study_id_from_name("final") == first
    assert storage.get_study_system_attrs(first) == {"kept": 2}
    other = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "other")
    with pytest.raises(IntegrityError):
        optuna_private.rename_study(storage, other, "final", drop_system_attr="mark")
    assert storage.get_study_id_from_name("other") == other


def test_storage_url_sees_through_optunas_cache(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    assert optuna_private.storage_url(optuna.create_study(storage=studies.storage_for(url))) == url
    assert optuna_private.storage_url(optuna.create_study()) == ""  # in memory: no database


def test_an_unclaimed_trial_on_sqlite_is_given_seconds_not_minutes(tmp_path):
    from hpsearch.store import trials

    sqlite = optuna.create_study(storage=studies.storage_for(f"sqlite:///{tmp_path}/s.db"))
    assert trials.unclaimed_grace(sqlite) == trials.UNCLAIMED_GRACE_SQLITE_S < trials.UNOWNED_GRACE_S  # was 300 s
    assert trials.unclaimed_grace(optuna.create_study()) == trials.UNOWNED_GRACE_S


@pytest.mark.parametrize("where", ["sqlite", "memory"])
def test_budget_counts_finished_trials_and_names_the_running_ones(tmp_path, where):
    from hpsearch.store import trials

    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db") if where == "sqlite" else None
    study = optuna.create_study(storage=storage)
    other = optuna.create_study(storage=storage)  # another study's trials in the same tables count for nothing
    other.tell(other.ask(), 1.0)
    asked = [study.ask() for _ in range(5)]
    study.tell(asked[0], 1.0)
    study.tell(asked[1], state=TrialState.PRUNED)
    study.tell(asked[2], state=TrialState.FAIL)
    study.enqueue_trial({})  # WAITING: not counted
    expected = (2, {3, 4})
    assert trials.budget_counts(study) == expected
    assert (optuna_private.budget_counts(study) is None) == (where == "memory")


@pytest.mark.parametrize("where", ["sqlite", "memory"])
def test_held_intermediate_values_reach_the_pruner_then_the_database_in_one_commit(tmp_path, where):
    from sqlalchemy import event

    storage = studies.storage_for(f"sqlite:///{tmp_path}/s.db") if where == "sqlite" else None
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    values = {1: 0.9, 2: float("inf"), 3: float("nan"), 4: 0.1}
    assert all(optuna_private.hold_intermediate_value(trial, s, v) for s, v in values.items())
    assert optuna_private.hold_intermediate_value(trial, 4, 0.7) is False  # Optuna keeps a step's first value
    assert trial.should_prune()  # 0.1 at step 4, held only, is below the threshold
    assert where == "memory" or study.trials[0].intermediate_values == {}  # nothing written yet
    commits = []
    if where == "sqlite":
        event.listen(optuna_private.database_of(study).engine, "commit", lambda connection: commits.append(1))
    optuna_private.write_intermediate_values(study, trial, values)
    assert len(commits) == (1 if where == "sqlite" else 0)  # Optuna's report: a commit a value
    stored = study.trials[0].intermediate_values
    assert stored[1] == 0.9 and stored[2] == float("inf") and stored[3] != stored[3] and stored[4] == 0.1
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError):  # a finished trial is never changed
        optuna_private.write_intermediate_values(study, trial, {5: 0.5})
