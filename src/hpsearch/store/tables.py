"""Optuna's tables, read directly, for the commands that only look at a database: studies and compare.

Opening a database through `optuna.storages.RDBStorage` imports Optuna's ORM and alembic and checks the
schema before the first row is read (about half a second here); `hpsearch studies` and `hpsearch compare`
must answer on 10,000-trial studies in under 2 s, so they read the few columns they need with plain SQL
over one SQLAlchemy engine, a handful of queries per study. Nothing here writes. Everything that needs
Optuna's trial objects opens the storage itself (`Tables.storage`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hpsearch.errors import StorageError, StudyError
from hpsearch.spec.storage_url import redact
from hpsearch.store.database import connect_kwargs, open_error, storage_problem

ATTRS_FOR_COMPARE = ("train_seconds", "stop_step", "effective_batch_size", "feasible", "planned_steps")


@dataclass
class StoredStudy:
    """A study's row with its directions ("maximize" / "minimize", objective order) and user attributes."""

    study_id: int
    name: str
    directions: list[str]
    user_attrs: dict[str, Any]


@dataclass
class Light:
    """What compare needs of one trial, read without building Optuna's full trial objects."""

    number: int
    state: str  # Optuna's TrialState name: COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    value: float | None  # the first objective
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Any] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)


class Tables:
    """One database's Optuna tables, opened read-only: `Tables.open(url)`."""

    def __init__(self, url: str, engine):
        self.url = url
        self.engine = engine
        self._storage = None

    @classmethod
    def open(cls, url: str) -> Tables:
        """The tables at `url`, or a StudyError / StorageError saying why there are none to read."""
        from sqlalchemy import create_engine, text

        kwargs = connect_kwargs(url, create=False, read_only=True)
        try:
            engine = create_engine(url, **kwargs)
            with engine.connect() as connection:
                connection.execute(text("SELECT study_id FROM studies WHERE 1 = 0")).fetchall()
        except Exception as exc:  # noqa: BLE001 - a missing driver, sqlalchemy's and the driver's errors
            raise open_error(url, exc, reading=True) from None
        return cls(url, engine)

    def storage(self):
        """Optuna's storage on the same database, opened once, for what needs full trial objects."""
        if self._storage is None:
            from hpsearch.store.studies import storage_for

            self._storage = storage_for(self.url, read_only=True)
        return self._storage

    def _rows(self, sql: str, **bound) -> list[tuple]:
        from sqlalchemy import text

        try:
            with self.engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql), bound)]
        except Exception as exc:  # noqa: BLE001 - a locked, corrupt or foreign database: one message
            problem = storage_problem(exc)
            if any(s in problem.lower() for s in ("no such column", "no such table", "does not exist")):
                problem = (f"its tables are not the ones this Optuna writes ({problem}): the database was written "
                           "by another version of Optuna; use a matching Optuna")
            raise StorageError(f"cannot read storage {redact(self.url)!r}: {problem}") from None

    def studies(self) -> list[StoredStudy]:
        """Every study, in the order they were created."""
        found = {study_id: StoredStudy(study_id, name, [], {})
                 for study_id, name in self._rows("SELECT study_id, study_name FROM studies ORDER BY study_id")}
        for study_id, _, direction in self._rows(
                "SELECT study_id, objective, direction FROM study_directions ORDER BY study_id, objective"):
            if study_id in found:
                found[study_id].directions.append(_name(direction).lower())
        for study_id, key, value in self._rows("SELECT study_id, key, value_json FROM study_user_attributes"):
            if study_id in found:
                found[study_id].user_attrs[key] = json.loads(value)
        return list(found.values())

    def study(self, name: str) -> StoredStudy:
        """The study `name`, or a StudyError listing the studies the database has."""
        studies = self.studies()
        for stored in studies:
            if stored.name == name:
                return stored
        known = [s.name for s in studies]
        raise StudyError(f"no study {name!r} in this database (it has: {', '.join(known) or 'none'})")

    def counts(self) -> dict[int, dict[str, int]]:
        """Per study id, its trials counted by state."""
        counts: dict[int, dict[str, int]] = {}
        for study_id, state, count in self._rows(
                "SELECT study_id, state, count(*) FROM trials GROUP BY study_id, state"):
            counts.setdefault(study_id, {})[_name(state)] = count
        return counts

    def last_activity(self) -> dict[int, datetime]:
        """Per study id, the latest start or finish of a trial, in local time as Optuna shows it."""
        last = {}
        for study_id, moment in self._rows(
                "SELECT study_id, max(coalesce(datetime_complete, datetime_start)) FROM trials GROUP BY study_id"):
            if isinstance(moment, str):
                moment = datetime.fromisoformat(moment)
            if moment is not None:  # stored as naive UTC
                last[study_id] = moment.replace(tzinfo=UTC).astimezone().replace(tzinfo=None)
        return last

    def value_range(self) -> dict[int, tuple[float, float]]:
        """Per study id, the lowest and highest first objective of its feasible complete trials (infinities too)."""
        found = {}
        for study_id, low, high, negative, positive in self._rows(
                "SELECT t.study_id, min(v.value), max(v.value), "
                "sum(CASE WHEN v.value_type = 'INF_NEG' THEN 1 ELSE 0 END), "
                "sum(CASE WHEN v.value_type = 'INF_POS' THEN 1 ELSE 0 END) FROM trials t JOIN trial_values v "
                "ON v.trial_id = t.trial_id AND v.objective = 0 WHERE t.state = 'COMPLETE' AND t.trial_id NOT IN "
                "(SELECT trial_id FROM trial_user_attributes WHERE key = 'feasible' AND value_json = 'false') "
                "GROUP BY t.study_id"):
            # Optuna stores an infinity as NULL with its sign in value_type: min and max skip it
            low = -math.inf if negative else low if low is not None else math.inf if positive else None
            high = math.inf if positive else high if high is not None else -math.inf if negative else None
            if low is not None:
                found[study_id] = (low, high)
        return found

    def light_trials(self, study_id: int) -> list[Light]:
        """Every trial of a study with its first value, parameters and the attributes compare reads:
        four queries, 10,000 trials in a fraction of a second."""
        from optuna.distributions import json_to_distribution

        found: dict[int, Light] = {}
        for trial_id, number, state in self._rows(
                "SELECT trial_id, number, state FROM trials WHERE study_id = :s", s=study_id):
            found[trial_id] = Light(number, _name(state), None)
        for trial_id, value, kind in self._rows(
                "SELECT v.trial_id, v.value, v.value_type FROM trial_values v JOIN trials t "
                "ON t.trial_id = v.trial_id WHERE t.study_id = :s AND v.objective = 0", s=study_id):
            found[trial_id].value = _value(value, kind)
        distributions: dict[str, Any] = {}  # a study has a few distinct ones: parse each once
        for trial_id, name, value, distribution in self._rows(
                "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json FROM trial_params p "
                "JOIN trials t ON t.trial_id = p.trial_id WHERE t.study_id = :s", s=study_id):
            dist = distributions.get(distribution)
            if dist is None:
                dist = distributions[distribution] = json_to_distribution(distribution)
            found[trial_id].params[name] = dist.to_external_repr(value)
            found[trial_id].distributions[name] = dist
        keys = ", ".join(f"'{k}'" for k in ATTRS_FOR_COMPARE)
        for trial_id, key, value in self._rows(
                "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a JOIN trials t "
                f"ON t.trial_id = a.trial_id WHERE t.study_id = :s AND a.key IN ({keys})", s=study_id):
            try:
                found[trial_id].user_attrs[key] = float(value)  # most are plain numbers: 10x faster than json
            except ValueError:
                found[trial_id].user_attrs[key] = json.loads(value)
        return sorted(found.values(), key=lambda t: t.number)


def _value(value: float | None, kind: Any) -> float | None:
    """A stored objective value: Optuna writes an infinity as NULL and says which one in value_type."""
    return {"INF_POS": math.inf, "INF_NEG": -math.inf}.get(_name(kind), value)


def _name(enum_value: Any) -> str:
    """An enum column's name: SQLAlchemy returns the name string on SQLite and PostgreSQL alike."""
    return getattr(enum_value, "name", str(enum_value))
