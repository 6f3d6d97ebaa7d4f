"""hpsearch.database: what a database error means, in one line."""

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from hpsearch.database import creation_race, storage_problem

RACE, VERSION = "another process was creating the database", "another version of Optuna"


@pytest.mark.parametrize("error, race, says", [
    (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: alembic_version.version_num")),
     True, RACE),
    (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: version_info.version_info_id")),
     True, RACE),
    (OperationalError("CREATE", {}, sqlite3.OperationalError("table studies already exists")), True, RACE),
    (IntegrityError("INSERT", {}, Exception('duplicate key value violates unique constraint "version_info_pkey"')),
     True, RACE),
    (OperationalError("CREATE", {}, Exception('duplicate key value violates unique constraint '
                                              '"pg_type_typname_nsp_index"')), True, RACE),
    (RuntimeError("The runtime optuna version 5.1.0 is no longer compatible with the table schema"), False, VERSION),
    (IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: studies.study_name")), False,
     "UNIQUE constraint failed: studies.study_name"),
])
def test_a_creation_race_is_not_another_version_of_optuna(error, race, says):
    assert creation_race(error) is race
    assert says in storage_problem(error)
    assert (VERSION in storage_problem(error)) is (says == VERSION)
