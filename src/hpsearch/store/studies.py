"""Studies in storage: open the database, create or load a study, copy one to another database.

Opening retries the race of processes started together that create one database's tables at once;
SQLite gets WAL and a busy timeout. The space a study keeps is `stored_spec`'s, its trials' bookkeeping
`trials`'.
"""

from __future__ import annotations

import difflib
import time
import warnings

import optuna
from sqlalchemy.exc import SQLAlchemyError

from hpsearch.errors import StorageError, StudyError
from hpsearch.search.build import build_pruner, build_sampler
from hpsearch.spec import reader
from hpsearch.spec.space import StudySpec
from hpsearch.spec.storage_url import redact
from hpsearch.store import optuna_private
from hpsearch.store.database import (
    connect_kwargs,
    creation_race,
    open_error,
    storage_problem,
    use_wal,
)
from hpsearch.store.stored_spec import (
    ATTR_OVERRIDES,
    ATTR_SPEC,
    INCOMPLETE,
    canonical,
    hide_passwords,
    load_stored_spec,
    store_spec,
    stored_form,
    stored_spec_text,
)
from hpsearch.store.trials import RetryStaleTrial, heartbeat_settings, owner_gone, owner_record

CREATE_ATTEMPTS = 5  # opening a database that processes started together are creating at once
DATABASE_ERRORS = (SQLAlchemyError, optuna.exceptions.StorageInternalError)


def storage_for(url: str, create: bool = True, read_only: bool = False) -> optuna.storages.RDBStorage:
    """Open the database at `url` (creating it unless `create` is False); SQLite gets WAL and a busy timeout.

    `read_only` (for the commands that only look): the database is never changed, not even switched to WAL.
    """
    create = create and not read_only
    engine_kwargs = connect_kwargs(url, create, read_only)
    interval, grace = heartbeat_settings()
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat arguments
                    storage = optuna.storages.RDBStorage(
                        url, engine_kwargs=engine_kwargs, heartbeat_interval=interval,
                        skip_table_creation=not create,  # a database only read is never altered
                        grace_period=grace,
                        heartbeat_stale_trial_callback=RetryStaleTrial(grace))
                break
            except DATABASE_ERRORS as exc:  # processes started together race to create the tables: one wins
                if attempt == CREATE_ATTEMPTS - 1 or not create or not creation_race(exc):
                    raise
                time.sleep(0.5 * (attempt + 1))  # the winner has finished by then: the tables are read, not made
    except Exception as exc:  # noqa: BLE001 - sqlalchemy's errors, Optuna's schema check: all one message
        raise open_error(url, exc, reading=not create) from None
    if url.startswith("sqlite") and not read_only:
        try:
            use_wal(storage.engine)
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot use storage {redact(url)!r}: {storage_problem(exc)}") from None
    return storage


def open_study(spec: StudySpec, storage: optuna.storages.BaseStorage, force: bool = False) -> optuna.Study:
    """Create the study `spec` names, or load it and check that its space is the same."""
    name = spec.study.name
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=build_sampler(spec.plugin_options),
                                  pruner=build_pruner(spec.plugin_options))
    except KeyError:
        try:
            study = optuna.create_study(study_name=name, storage=storage, sampler=build_sampler(spec.plugin_options),
                                        pruner=build_pruner(spec.plugin_options),
                                        directions=[o.direction for o in spec.objectives])
        except optuna.exceptions.DuplicatedStudyError:  # another machine created it a moment ago: join it
            return open_study(spec, storage, force)
        store_spec(study, spec)
        return study
    stored = stored_spec_text(study)
    if stored is None:
        raise StudyError(f"study {name!r} exists but was not made by hpsearch (choose another study.name)")
    stored_overrides = study.user_attrs.get(ATTR_OVERRIDES, [])
    if not isinstance(stored, str) or not isinstance(stored_overrides, list) \
            or not all(isinstance(o, str) for o in stored_overrides):
        raise StorageError(f"study {name!r}: its stored space ({ATTR_SPEC}) is unreadable: it is not the text of a "
                           "space file (was the database edited by hand?)")
    stored, stored_overrides = hide_passwords(study, stored, stored_overrides)
    stored_directions = [d.name.lower() for d in study.directions]
    if stored_directions != [o.direction for o in spec.objectives]:
        raise StudyError(f"study {name!r} has the directions {stored_directions}; this file asks for "
                         f"{[o.direction for o in spec.objectives]} (choose another study.name)")
    text, overrides = stored_form(spec)
    ours = spec.document if (text, overrides) == (spec.text, list(spec.overrides)) else reader.parse(text, overrides)
    if canonical(reader.parse(stored, stored_overrides)) != canonical(ours):
        if not force:
            before = stored.splitlines() + [f"--set {o}" for o in stored_overrides]
            after = text.splitlines() + [f"--set {o}" for o in overrides]
            diff = "\n".join(difflib.unified_diff(before, after, "stored", "this file", lineterm="", n=1))
            raise StudyError(f"study {name!r} was made with a different space; rerun with --force to continue it "
                             f"with this one, or choose another study.name. The difference:\n{diff}")
        store_spec(study, spec)
    return study


# -- moving a study between databases ---------------------------------------------------------------
ATTR_COPYING = "hpsearch:copying"  # study system attr of a copy being made: the copying process (owner_record)


def copy(name: str, source: str, destination: str) -> int:
    """Copy study `name` with all its trials and hpsearch's attributes from one database to another.

    The copy is made under the name `NAME (incomplete copy)` and renamed to `name` in one transaction once
    every trial is in, so the destination holds the whole study or none of it; a copy stopped on the way
    (Ctrl-C, kill -9, a failing disk) leaves at most that incomplete study, which the next copy replaces.

    Returns the number of trials copied. Files (kept models, the data cache) stay where they are.
    """
    if source == destination:
        raise StudyError(f"--from and --to are the same database ({redact(source)}); name another --to")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not Optuna's own "A new study created" line
    origin = storage_for(source, read_only=True)
    load_stored_spec(name, origin)  # an hpsearch study, or a one-line refusal
    target = storage_for(destination)
    if _has_study(target, name):
        raise StudyError(f"study {name!r} already exists in {redact(destination)}; copy never overwrites "
                         f"(delete it there first: optuna delete-study --study-name {name} --storage URL)")
    original = optuna.load_study(study_name=name, storage=origin)
    try:
        partial = _start_copy(target, name, original.directions, destination)
        try:
            for key, value in optuna_private.study_system_attrs(original).items():
                target.set_study_system_attr(partial, key, value)
            for key, value in original.user_attrs.items():
                target.set_study_user_attr(partial, key, value)
            trials = original.get_trials(deepcopy=False)
            for trial in trials:
                target.create_new_trial(partial, template_trial=trial)
            _publish(target, partial, name)
        except BaseException:
            _discard(target, partial)
            raise
    except DATABASE_ERRORS as exc:
        raise StorageError(f"copying study {name!r} to {redact(destination)} failed: {storage_problem(exc)} "
                           "(nothing was left there under that name; copy again)") from None
    copied = optuna.load_study(study_name=name, storage=target)
    hide_passwords(copied, copied.user_attrs[ATTR_SPEC], copied.user_attrs.get(ATTR_OVERRIDES, []))  # an older one's
    return len(trials)


def _start_copy(target: optuna.storages.RDBStorage, name: str, directions: list, destination: str) -> int:
    """Create the incomplete copy of `name` and mark it as this process's; one left by a copy that was stopped
    on this machine is replaced. Returns its study id."""
    partial = name + INCOMPLETE
    for _ in range(2):
        try:
            study_id = target.create_new_study(directions, partial)
        except optuna.exceptions.DuplicatedStudyError:
            left = target.get_study_id_from_name(partial)
            owner = target.get_study_system_attrs(left).get(ATTR_COPYING) or {}
            if owner and not owner_gone(owner):  # a copy elsewhere (another machine, another container) lives
                raise StudyError(
                    f"study {name!r} is being copied into {redact(destination)} by process {owner.get('pid')} on "
                    f"{owner.get('host')} (or was, until that process was stopped); wait for it, or delete the "
                    f"incomplete copy: optuna delete-study --study-name '{partial}' --storage URL") from None
            target.delete_study(left)  # its copy was stopped: start again
            continue
        target.set_study_system_attr(study_id, ATTR_COPYING, owner_record())
        return study_id
    raise StudyError(f"study {name!r} is being copied into {redact(destination)} by another process; wait for it")


def _publish(target: optuna.storages.RDBStorage, study_id: int, name: str) -> None:
    """Rename the complete copy to `name` and drop its mark, in one transaction: it appears whole, at once."""
    from sqlalchemy.exc import IntegrityError

    try:
        optuna_private.rename_study(target, study_id, name, drop_system_attr=ATTR_COPYING)
    except IntegrityError:  # the name is unique: a study of that name was created while we copied
        raise StudyError(f"study {name!r} appeared at the destination during the copy; nothing was "
                         "overwritten") from None


def _discard(target: optuna.storages.RDBStorage, study_id: int) -> None:
    """Remove an incomplete copy, where the database still lets us (else the next copy replaces it)."""
    try:
        target.delete_study(study_id)
    except Exception:  # noqa: BLE001 - the error that stopped the copy is the one to report
        pass


def _has_study(storage: optuna.storages.BaseStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True
