"""hpsearch.store.database: storage URLs, their passwords masked whatever form they take, and each public
function's effect: connect_kwargs, open_error, storage_problem, creation_race, sqlite_path, and the
notice of a wait for another process's lock."""

import hashlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.exc import IntegrityError, OperationalError

from helpers import cli
from hpsearch.errors import StorageError, StudyError
from hpsearch.spec.storage_url import redact
from hpsearch.store.database import (
    LOCK_TIMEOUT_S,
    connect_kwargs,
    creation_race,
    open_error,
    sqlite_path,
    storage_problem,
    use_wal,
)
from hpsearch.store.studies import storage_for
from hpsearch.store.tables import Tables


@pytest.mark.parametrize("url, shown", [
    ("postgresql://me:hunter2@db.example:5432/hp", "postgresql://me:***@db.example:5432/hp"),
    ("postgresql+psycopg://u:hun@ter2@host/db", "postgresql+psycopg://u:***@host/db"),  # an unencoded @
    ("postgresql://u:hun%40ter2@host/db", "postgresql://u:***@host/db"),
    ("mysql+pymysql://u:hun/ter?2@host/db", "mysql+pymysql://u:***@host/db"),
    ("postgresql://u:hunter2@host/db?application_name=me@work", "postgresql://u:***@host/db?application_name=me@work"),
    ("postgresql://admin@server:hunter2@server.example/db", "postgresql://admin@server:***@server.example/db"),
    ("postgresql://u:hun ter2@host/db", "postgresql://u:***@host/db"),
    ("postgresql://u@host/db?password=hunter2", "postgresql://u@host/db?password=***"),
    ("postgresql://host/db?sslmode=require&password=hunter2&x=1", "postgresql://host/db?sslmode=require&password=***&x=1"),
    ("postgresql://host/db?PASSWORD=hun@ter2", "postgresql://host/db?PASSWORD=***"),
    ("postgresql://u:hunter2@", "postgresql://u:***@"),  # not even a URL SQLAlchemy parses
    ("postgresql://u:hunter2@:not a port/", "postgresql://u:***@:not a port/"),
    ("postgresql://u@host:5432/db", "postgresql://u@host:5432/db"),
    ("sqlite:////tmp/a:b@c.db", "sqlite:////tmp/a:b@c.db"),
    ("sqlite:///studies/hpsearch.db", "sqlite:///studies/hpsearch.db"),
])
def test_a_password_is_masked_whatever_form_the_url_takes(url, shown):
    assert redact(url) == shown
    assert redact(shown) == shown


def test_passwords_in_text_are_masked_where_they_stand():
    text = ("cannot open storage 'postgresql://u:hunter2@h/db': refused; also postgresql://v:x@y@h2/db\n"
            "study:\n  storage: \"mysql://w:hunter3@h3/db?ssl=1&passwd=hunter4\"\n")
    shown = redact(text)
    assert not any(secret in shown for secret in ("hunter2", "x@y", "hunter3", "hunter4")), shown
    assert "'postgresql://u:***@h/db'" in shown and "postgresql://v:***@h2/db" in shown
    assert "mysql://w:***@h3/db?ssl=1&passwd=***\"" in shown


def files_of(db):
    """The database's file and the files SQLite keeps beside it (-wal, -shm, -journal), with their checksums."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in db.parent.iterdir() if p.name.startswith(db.name)}


def foreign_database(path, journal="delete"):
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA journal_mode={journal}")
    connection.execute("CREATE TABLE studies (id INTEGER, name TEXT)")
    connection.execute("INSERT INTO studies VALUES (1, 'mine')")
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_database_of_something_else_is_refused_untouched(tmp_path, journal):
    db = foreign_database(tmp_path / "mine.db", journal)
    before = files_of(db)
    with pytest.raises(StorageError, match=r"holds the tables of something else \(studies\).*changed nothing"):
        storage_for(f"sqlite:///{db}")
    assert files_of(db) == before


def test_copy_into_a_database_of_something_else_is_one_line_exit_1(made_study):
    db = foreign_database(made_study / "mine.db")
    before = files_of(db)
    result = cli("copy", "made", "--from", "sqlite:///studies/hpsearch.db", "--to", f"sqlite:///{db}",
                 cwd=made_study)
    assert result.returncode == 1 and "holds the tables of something else" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and files_of(db) == before


def test_an_empty_file_or_an_optuna_database_is_used(tmp_path):
    import optuna

    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    optuna.create_study(study_name="first", storage=storage_for(f"sqlite:///{path}"))
    with sqlite3.connect(path) as connection:  # the empty file became an Optuna database
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"studies", "trials", "version_info"} <= tables
    again = storage_for(f"sqlite:///{path}")  # an Optuna database is used as it is
    assert [s.study_name for s in optuna.get_all_study_summaries(again)] == ["first"]


@pytest.mark.parametrize("command", [["show", "made"], ["best", "made"], ["export", "made", "-o", "out.csv"],
                                     ["report", "made", "-o", "out.html"], ["studies"], ["compare", "made"]])
def test_commands_that_look_never_change_the_database(made_study, command):
    db = made_study / "studies" / "hpsearch.db"
    with sqlite3.connect(db) as connection:  # a plain Optuna database keeps its rollback journal
        connection.execute("PRAGMA journal_mode=DELETE")
    before = files_of(db)
    result = cli(*command, cwd=made_study)
    assert result.returncode == 0, result.stderr
    assert files_of(db) == before  # the same bytes, and no -wal or -shm appeared


def test_a_storage_opened_to_read_cannot_write(made_study):
    url = "sqlite:///studies/hpsearch.db"
    for engine in (storage_for(url, read_only=True).engine, Tables.open(url).engine):
        with pytest.raises(sqlalchemy.exc.OperationalError, match="readonly"), engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE x (a INTEGER)")


@pytest.fixture
def read_only_media(tmp_path):
    """A small file system of its own (its folder, and `freeze()` that makes it read-only); skipped where mount
    is denied."""
    from types import SimpleNamespace

    mount_point = tmp_path / "media"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a file system here (needs root)")
    try:
        yield SimpleNamespace(path=mount_point, freeze=lambda: subprocess.run(
            ["mount", "-o", "remount,ro", str(mount_point)], check=True, capture_output=True))
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_commands_that_look_read_a_database_on_read_only_media(made_study, read_only_media):
    shutil.copy(made_study / "studies" / "hpsearch.db", read_only_media.path / "hp.db")  # WAL mode, no -shm
    read_only_media.freeze()
    url = f"sqlite:///{read_only_media.path / 'hp.db'}"
    for command in (["show", "made"], ["best", "made"], ["studies"], ["compare", "made"],
                    ["export", "made", "-o", made_study / "out.csv"]):
        result = cli(*command, "--storage", url, cwd=made_study)
        assert result.returncode == 0, (command, result.stderr)


def test_unmerged_writes_on_read_only_media_are_named(made_study, read_only_media):
    db = read_only_media.path / "hp.db"
    shutil.copy(made_study / "studies" / "hpsearch.db", db)
    keeper = sqlite3.connect(db)  # writes that stay in the -wal file, as after a crash
    keeper.execute("PRAGMA wal_autocheckpoint=0")
    keeper.execute("UPDATE studies SET study_name = study_name")
    keeper.commit()
    shutil.copy(f"{db}-wal", made_study / "hp.db-wal")
    keeper.close()
    shutil.copy(made_study / "hp.db-wal", f"{db}-wal")  # closing merged it: put it back, without its -shm
    Path(f"{db}-shm").unlink(missing_ok=True)
    read_only_media.freeze()
    result = cli("show", "made", "--storage", f"sqlite:///{db}", cwd=made_study)
    assert result.returncode == 1 and "last writes wait in" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_wait_for_another_process_lock_is_said(tmp_path, monkeypatch, capsys):
    import threading

    import optuna

    from hpsearch.store import database

    monkeypatch.setattr(database, "LOCK_NOTICE_S", 0.5)
    db = tmp_path / "locked.db"
    storage = storage_for(f"sqlite:///{db}")
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(2.0, holder.rollback).start()  # another process's transaction, two seconds long
    optuna.create_study(study_name="waited", storage=storage)
    said = capsys.readouterr().err
    assert f"waiting for the database {db}: another process holds its lock (hpsearch waits up to 60 s" in said
    assert f"the lock of {db} is free after 2 s; going on" in said
    assert said.count("waiting for the database") == 1
    locked = database.storage_problem(sqlite3.OperationalError("database is locked"))
    assert locked.startswith("another process holds the database's lock (hpsearch waited up to 60 s for it")


def _writer_holding_the_lock(db, seconds):
    """Another process's write transaction on the SQLite file `db` (a RESERVED lock), `seconds` long."""
    import threading

    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE IF NOT EXISTS being_written (x)")
    threading.Timer(seconds, holder.rollback).start()


def test_the_switch_to_wal_waits_for_a_writer_that_sqlite_would_refuse_at_once(tmp_path):
    db = tmp_path / "new.db"
    sqlite3.connect(db).close()
    _writer_holding_the_lock(db, 1.5)
    engine = sqlalchemy.create_engine(f"sqlite:///{db}", connect_args={"timeout": 0.1})
    with pytest.raises(OperationalError, match="database is locked"), engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")  # what SQLite does on its own: no wait
    use_wal(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    use_wal(engine)  # already WAL: nothing to do, no lock needed


def test_a_writer_holding_the_lock_past_the_timeout_is_one_line(tmp_path, monkeypatch):
    from hpsearch.store import database

    monkeypatch.setattr(database, "LOCK_TIMEOUT_S", 0.5)
    db = tmp_path / "held.db"
    storage_for(f"sqlite:///{db}").engine.dispose()
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    _writer_holding_the_lock(db, 3)
    with pytest.raises(StorageError, match="cannot use storage .*another process holds the database's lock"):
        storage_for(f"sqlite:///{db}")


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


@pytest.mark.parametrize("url, message", [
    ("", "storage '' must be a database URL such as sqlite:///studies/hpsearch.db, but got ''"),
    ("redis://u:hunter2@h/0", "storage 'redis://u:***@h/0' uses 'redis'; hpsearch stores studies in sqlite, "
                              "postgresql or mysql"),
    ("sqlite://", "storage 'sqlite://' names an in-memory SQLite database, which keeps nothing (give a file: "
                  "sqlite:///studies/x.db)"),
])
def test_connect_kwargs_refuses_a_url_it_cannot_use(url, message):
    with pytest.raises(StudyError) as raised:
        connect_kwargs(url, create=True)
    assert str(raised.value) == message


def test_connect_kwargs_of_a_server_database_are_sqlalchemy_defaults():
    assert connect_kwargs("postgresql://u:hunter2@db.example/hp", create=True) == {}


def test_connect_kwargs_to_read_a_missing_file_is_an_error_and_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/sub/none.db"
    for read_only in (False, True):
        with pytest.raises(StudyError) as raised:
            connect_kwargs(url, create=False, read_only=read_only)
        assert str(raised.value) == (f"no study database at {tmp_path}/sub/none.db (run a study first, or name "
                                     "another with --storage)")
    assert not (tmp_path / "sub").exists()


def test_connect_kwargs_to_create_makes_the_folder_and_waits_for_locks(tmp_path):
    kwargs = connect_kwargs(f"sqlite:///{tmp_path}/sub/new.db", create=True)
    assert kwargs == {"connect_args": {"timeout": LOCK_TIMEOUT_S}}
    assert (tmp_path / "sub").is_dir() and not (tmp_path / "sub" / "new.db").exists()


def test_connect_kwargs_to_read_only_give_a_connection_that_cannot_write(tmp_path):
    db = foreign_database(tmp_path / "mine.db")
    before = files_of(db)
    kwargs = connect_kwargs(f"sqlite:///{db}", create=False, read_only=True)
    assert list(kwargs) == ["creator"]
    connection = kwargs["creator"]()
    try:
        assert connection.execute("SELECT name FROM studies").fetchall() == [("mine",)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            connection.execute("INSERT INTO studies VALUES (2, 'theirs')")
    finally:
        connection.close()
    assert files_of(db) == before


def test_open_error_names_a_missing_driver_with_the_install_command():
    error = open_error("postgresql://u:hunter2@h/db", ImportError("No module named 'psycopg2'"), reading=True)
    assert isinstance(error, StudyError)
    assert str(error) == ("storage 'postgresql://u:***@h/db' needs a database driver: No module named 'psycopg2' "
                          '(pip install -e ".[postgres]")')


def test_open_error_of_a_database_without_optuna_tables_says_how_to_start_one():
    missing = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: version_info"))
    error = open_error("postgresql://u:hunter2@h/db", missing, reading=True)
    assert isinstance(error, StudyError)
    assert str(error) == ("no study in postgresql://u:***@h/db: the database holds no Optuna tables (start the study "
                          "there with hpsearch run FILE --storage URL, or copy one in with hpsearch copy)")
    written = open_error("postgresql://u:hunter2@h/db", missing, reading=False)  # creating: not "no study"
    assert isinstance(written, StorageError)
    assert str(written) == "cannot open storage 'postgresql://u:***@h/db': no such table: version_info"


@pytest.mark.parametrize("driver_says, says", [
    ("file is not a database", "the file is not an SQLite database (point --storage at another file)"),
    ("attempt to write a readonly database", "the database is read-only (make it writable, or use another --storage)"),
    ("database or disk is full", "the disk is full (free some space; nothing was written)"),
    ("disk I/O error", "the database's disk cannot be written: is the disk full? (free some space; nothing was "
                       "changed)"),
    ("connection to postgresql://u:hunter2@h/db refused", "connection to postgresql://u:***@h/db refused"),
    ("first line\nsecond line", "first line"),
])
def test_storage_problem_is_one_line_that_says_what_to_do(driver_says, says):
    assert storage_problem(OperationalError("SELECT", {}, sqlite3.OperationalError(driver_says))) == says


@pytest.mark.parametrize("url, path", [
    ("sqlite:///studies/hpsearch.db", Path("studies/hpsearch.db")),
    ("sqlite:////tmp/a b/x.db", Path("/tmp/a b/x.db")),
    ("sqlite:///file:/tmp/a%20b/x.db?mode=ro&uri=true", Path("/tmp/a b/x.db")),
])
def test_sqlite_path_is_the_file_also_of_the_uri_form(url, path):
    assert sqlite_path(url) == path
