"""hpsearch.database: what a database error means, in one line."""

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from hpsearch.database import creation_race, storage_problem


@pytest.mark.parametrize("error, race", [
    (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: alembic_version.version_num")),
     True),
    (OperationalError("CREATE", {}, sqlite3.OperationalError("table studies already exists")), True),
    (IntegrityError("INSERT", {}, Exception('duplicate key value violates unique constraint "version_info_pkey"')),
     True),
    (RuntimeError("The runtime optuna version 5.1.0 is no longer compatible with the table schema"), False),
])
def test_a_creation_race_is_not_another_version_of_optuna(error, race):
    assert creation_race(error) is race
    assert ("another version of Optuna" in storage_problem(error)) is not race
