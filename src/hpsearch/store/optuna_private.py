"""Every use of Optuna's private names, in one place, each with the reason Optuna's public API does not do.

Optuna 5 gives a study no public way to reach its storage, its id or a trial's id, to write several
attributes in one commit, to rename a study, or to record constraint values outside `optimize()`.
hpsearch runs its own ask / tell loop across processes and machines, so it needs each of these; an
Optuna upgrade that moves one of them breaks this module only (tests/store pins each behaviour).
The one private name kept elsewhere is `LazyRandomState` in `search/reseed.py`: the search layer sits
below this one and may not import it.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import FrozenTrial


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study writes through (Optuna's cache over the database): `Study` exposes no accessor."""
    return study._storage


def database_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage under Optuna's cache: Optuna wraps an RDBStorage in its private _CachedStorage, which keeps
    the real one as `_backend`; any other storage is its own."""
    storage = storage_of(study)
    return getattr(storage, "_backend", storage)


def storage_url(study: optuna.Study) -> str:
    """The database URL behind a study's storage, or "" when it has none (an in-memory storage)."""
    return str(getattr(database_of(study), "url", ""))


def study_id(study: optuna.Study) -> int:
    """The study's id in its storage, which every storage method takes."""
    return study._study_id


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    """A trial's id in its storage: the public `number` counts within the study, storages key on the id."""
    return trial._trial_id


def study_system_attrs(study: optuna.Study) -> dict[str, Any]:
    """The study's system attributes (where artifacts and hpsearch's marks live); `Study.system_attrs` is gone."""
    return storage_of(study).get_study_system_attrs(study_id(study))


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    """Write a study system attribute: Optuna 5 removed `Study.set_system_attr`."""
    storage_of(study).set_study_system_attr(study_id(study), key, value)


def set_trial_user_attr(study: optuna.Study, trial: FrozenTrial | optuna.Trial, key: str, value: Any) -> None:
    """Write a user attribute of any trial of the study, also one the caller holds only as a FrozenTrial."""
    storage_of(study).set_trial_user_attr(trial_id(trial), key, value)


def set_trial_user_attrs(study: optuna.Study, trial: FrozenTrial | optuna.Trial, attrs: dict[str, Any],
                         beat: bool = False) -> None:
    """Several user attributes of a trial in one transaction of three statements where the database allows,
    else one by one; with `beat`, the trial's first heartbeat too, in the same transaction (a trial's claim:
    it is never seen owned but unbeaten, and it costs one commit, not two).

    Optuna commits each attribute on its own, and even its session helper reads the trial again for each
    one; a trial's result is about fifteen attributes, two writes a trial carry them. Here: the trial's state
    read once (a finished trial is refused, as Optuna refuses it), the keys' old rows deleted, the new rows
    inserted together, written against Optuna's own table models and JSON encoding.
    """
    storage = database_of(study)
    if not isinstance(storage, optuna.storages.RDBStorage) or not hasattr(storage, "check_trial_is_updatable"):
        for key, value in attrs.items():
            set_trial_user_attr(study, trial, key, value)
        if beat:
            record_heartbeat(study, trial)
        return
    if not attrs and not beat:
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import delete, insert

    table, beats, id_ = models.TrialUserAttributeModel.__table__, models.TrialHeartbeatModel.__table__, trial_id(trial)
    rows = [{"trial_id": id_, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    with _create_scoped_session(storage.scoped_session, True) as session:
        storage.check_trial_is_updatable(id_, models.TrialModel.find_or_raise_by_id(id_, session).state)
        if rows:
            session.execute(delete(table).where(table.c.trial_id == id_, table.c.key.in_(list(attrs))))
            session.execute(insert(table), rows)
        if beat:  # Optuna's record_heartbeat, as one statement: the row's time is the database's clock, as there
            session.execute(delete(beats).where(beats.c.trial_id == id_))
            session.execute(insert(beats), [{"trial_id": id_}])


def hold_intermediate_value(trial: optuna.Trial, step: int, value: float) -> bool:
    """Add an evaluation to the trial Optuna holds in memory, where `should_prune` hands it to the pruner, without
    writing it (see write_intermediate_values); False when the step was reported already (Optuna keeps the first).

    `Trial.report` commits each value on its own, a database round trip a report.
    """
    held = trial._cached_frozen_trial.intermediate_values
    if step in held:
        return False
    held[step] = float(value)
    return True


def write_intermediate_values(study: optuna.Study, trial: optuna.Trial, values: dict[int, float]) -> None:
    """Write a running trial's evaluations in one transaction, against Optuna's own table model and its encoding
    of inf and nan; a finished trial is refused, as Optuna refuses it."""
    storage = database_of(study)
    if not isinstance(storage, optuna.storages.RDBStorage) or not hasattr(storage, "check_trial_is_updatable"):
        for step, value in values.items():
            storage_of(study).set_trial_intermediate_value(trial_id(trial), step, value)
        return
    if not values:
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import insert

    model, id_ = models.TrialIntermediateValueModel, trial_id(trial)
    stored = {step: model.intermediate_value_to_stored_repr(value) for step, value in values.items()}
    rows = [{"trial_id": id_, "step": step, "intermediate_value": value, "intermediate_value_type": kind}
            for step, (value, kind) in stored.items()]
    with _create_scoped_session(storage.scoped_session, True) as session:
        storage.check_trial_is_updatable(id_, models.TrialModel.find_or_raise_by_id(id_, session).state)
        session.execute(insert(model.__table__), rows)


def budget_counts(study: optuna.Study) -> tuple[int, set[int]] | None:
    """The study's complete and pruned trials counted, and the numbers of its running ones, in two plain SQL
    reads of Optuna's trials table; None where the storage is not a database.

    Through Optuna (`get_trials`), the same answer loads each running trial whole (its parameters,
    attributes and reports: about seven queries), and the study process asks before every trial.
    """
    backend = database_of(study)
    if not isinstance(backend, optuna.storages.RDBStorage):
        return None
    from sqlalchemy import text

    with backend.engine.connect() as connection:
        finished = connection.execute(text("SELECT count(*) FROM trials WHERE study_id = :s AND state IN "
                                           "('COMPLETE', 'PRUNED')"), {"s": study_id(study)}).scalar()
        running = connection.execute(text("SELECT number FROM trials WHERE study_id = :s AND state = 'RUNNING'"),
                                     {"s": study_id(study)}).scalars().all()
    return int(finished), set(running)


def heartbeat_interval(study: optuna.Study) -> int | None:
    """The storage's heartbeat interval in seconds, None without heartbeats: Optuna reads it only in optimize()."""
    interval = getattr(storage_of(study), "get_heartbeat_interval", None)
    return None if interval is None else interval()


def record_heartbeat(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> None:
    """Beat for a running trial: Optuna beats only for the trials its own optimize() runs."""
    storage_of(study).record_heartbeat(trial_id(trial))


def set_constraints(study: optuna.Study, trial: FrozenTrial | optuna.Trial, values: list[float]) -> None:
    """Record a trial's constraint values where Optuna's samplers and `best_trial` read them.

    Optuna sets this key only from a sampler's `constraints_func` inside its own tell; hpsearch learns the
    values from the worker process, after the trial has run.
    """
    from optuna.samplers._base import _CONSTRAINTS_KEY

    storage_of(study).set_trial_system_attr(trial_id(trial), _CONSTRAINTS_KEY, values)


def rename_study(storage: optuna.storages.RDBStorage, study_id_: int, name: str, drop_system_attr: str) -> None:
    """Rename a study and drop one of its system attributes in one transaction: Optuna has no rename.

    Written against Optuna's own table models, so the names are quoted right for each database.
    Raises sqlalchemy's IntegrityError when a study of that name exists (the name is unique).
    """
    from optuna.storages._rdb import models
    from sqlalchemy import delete, update

    studies, attrs = models.StudyModel.__table__, models.StudySystemAttributeModel.__table__
    with storage.engine.begin() as connection:
        connection.execute(update(studies).where(studies.c.study_id == study_id_).values(study_name=name))
        connection.execute(delete(attrs).where(attrs.c.study_id == study_id_, attrs.c.key == drop_system_attr))
