"""Hostile input: fuzzed command lines, broken databases, secrets that must not leak."""

import hashlib
import importlib.util
import os
import shutil
import sqlite3
import subprocess

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import COMMAND, laughs
from hpsearch.cli import app
from hpsearch.errors import StorageError
from hpsearch.run.study_loop import run_study
from hpsearch.spec.space import load_space
from hpsearch.spec.storage_url import redact
from hpsearch.store.studies import storage_for

RUNNER = CliRunner()
FILES = ["missing.yaml", "broken.yaml", "bad.yaml", "nodata.yaml", "."]
WORDS = ["run", "validate", "ranges", "resume", "--dry-run", "--n-trials", "--timeout", "--n-jobs", "--storage",
         "--format", "--force", "--debug", "json", "table", "0", "-1", "3", "x", "15m", "sqlite://", "nope",
         "postgresql://u:secret@127.0.0.1:1/db", "", "--", "-"]


@pytest.fixture
def fuzz_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "broken.yaml").write_text("study: [\n")
    (folder / "bad.yaml").write_text("study: {name: 'no good', n_trials: 0}\nspace: {lr: 1}\n")
    (folder / "nodata.yaml").write_text("study: {name: fz}\ntask: {dataset: {path: absent.csv}, model: ./absent}\n")
    return folder


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(WORDS + FILES), max_size=6))
def test_fuzzed_command_lines_never_trace_back_or_touch_a_database(fuzz_dir, monkeypatch, args):
    monkeypatch.chdir(fuzz_dir)
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    before = sorted(p.name for p in fuzz_dir.iterdir())
    result = RUNNER.invoke(app, args, catch_exceptions=True)
    assert result.exit_code in (0, 2), (args, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert "Traceback" not in result.output or "--debug" in args
    given_as_storage = any(a == "--storage" and b.startswith("postgresql") for a, b in zip(args, args[1:], strict=False))
    if given_as_storage and "Usage:" not in result.output:  # click may echo a stray word back as it was typed
        assert "secret" not in result.output
    assert sorted(p.name for p in fuzz_dir.iterdir()) == before  # no database appeared


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.no_training
def test_a_file_that_is_not_a_database(tiny_project):
    junk = tiny_project.root / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    path = tiny_project(n_trials=1)
    result = subprocess.run(COMMAND + ["run", path.name, "--storage", f"sqlite:///{junk}"], cwd=tiny_project.root,
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().endswith("the file is not an SQLite database (point --storage at another file)")
    assert len(result.stderr.strip().splitlines()) == 1 and junk.read_bytes() == b"this is not sqlite" * 100


@pytest.mark.no_training
def test_a_read_only_database(tiny_project):
    path = tiny_project(n_trials=1)
    db = tiny_project.root / "ro.db"
    optuna.create_study(study_name="other", storage=storage_for(f"sqlite:///{db}"))
    before = digest(db)
    with pytest.raises(StorageError, match="read-only"):
        run_study(load_space(path), storage=f"sqlite:///file:{db}?mode=ro&uri=true")
    assert digest(db) == before


@pytest.mark.no_training
def test_a_database_of_an_unknown_schema(tiny_project):
    path = tiny_project(n_trials=1)
    db = tiny_project.root / "future.db"
    optuna.create_study(study_name="other", storage=storage_for(f"sqlite:///{db}"))
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'v99.0.0.from-the-future'")
    before = digest(db)
    with pytest.raises(StorageError, match="another version of Optuna"):
        run_study(load_space(path), storage=f"sqlite:///{db}")
    assert digest(db) == before


def test_passwords_never_show_or_get_stored(tiny_project):
    assert redact("postgresql://me:hunter2@db.example:5432/hp") == "postgresql://me:***@db.example:5432/hp"
    path = tiny_project(n_trials=1)
    secret_url = "postgresql+psycopg://me:hunter2@127.0.0.1:1/hp"
    result = subprocess.run(COMMAND + ["run", path.name, "--storage", secret_url], cwd=tiny_project.root,
                            capture_output=True, text=True)
    # with the driver installed the connection is refused (1); without it the driver is named (2)
    assert result.returncode == (1 if importlib.util.find_spec("psycopg") else 2), result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "me:***@127.0.0.1" in result.stderr
    # A file that names a password-bearing storage, run against another: the stored space hides it.
    path.write_text(path.read_text().replace("name: tiny", f"name: tiny\n  storage: '{secret_url}'"))
    run_study(load_space(path), storage=tiny_project.storage)
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    stored = study.user_attrs["hpsearch:spec"]
    assert "hunter2" not in stored and "me:***@127.0.0.1" in stored
    assert not any("hunter2" in str(v) for t in study.trials for v in t.user_attrs.values())


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "/abs", "a\\b", ".hidden"])
def test_study_names_cannot_escape_the_studies_folder(make_spec, name):
    from hpsearch.errors import SpaceError

    with pytest.raises(SpaceError, match="is not a valid study name"):
        make_spec(f"study: {{name: '{name}'}}\n")


def test_yaml_is_loaded_without_constructing_objects(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"study: !!python/object/apply:os.system ['touch {marker}']\n")
    result = subprocess.run(COMMAND + ["validate", evil], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{evil}:1: study: invalid value: the tag tag:yaml.org,2002:python/object/apply:os.system is not allowed "
        "(plain YAML only)",
        f"{evil}:1: the study: section is missing (add at least study: {{name: my-study}})",
    ]
    assert not marker.exists()
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 3 MB file system of its own (tmpfs), where this test may fill the disk; skipped where mount is denied."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)], capture_output=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield mount_point
    finally:
        # lazy: a process of the test may still hold a file there; the mount must go anyway
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_full_disk(tiny_project, tiny_disk):
    path = tiny_project(n_trials=1)
    path.write_text(path.read_text().replace("name: tiny", "name: tiny\n  save: none"))
    url = f"sqlite:///{tiny_disk}/hp.db"
    first = subprocess.run(COMMAND + ["run", path.name, "--storage", url], cwd=tiny_project.root, capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr
    with open(tiny_disk / "filler", "wb", buffering=0) as filler:  # take every byte left
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass
    result = subprocess.run(COMMAND + ["run", path.name, "--storage", url, "--n-trials", "4"], cwd=tiny_project.root,
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert ("the disk is full" in result.stderr or "is the disk full?" in result.stderr), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    (tiny_disk / "filler").unlink()
    with sqlite3.connect(tiny_disk / "hp.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    study = optuna.load_study(study_name="tiny", storage=storage_for(url))
    assert [t.state.name for t in study.trials][0] == "COMPLETE"  # what was there is still there


@pytest.fixture
def hostile_files(tmp_path):
    """Files that once cost a traceback, unbounded memory or a hang; each must now cost one line, exit 2."""

    files = {
        "recursive.yaml": ("study: &a {name: x, n: [*a]}\n", "invalid YAML: a recursive alias"),
        "deep.yaml": ("study: {name: x}\nfixed: " + "[" * 600 + "]" * 600 + "\n", "nested deeper than 50 levels"),
        "laughs.yaml": ("study: {name: x}\n" + laughs(9), "the aliases expand to more than 100000 values"),
        "huge.yaml": ("study: {name: x}\n" + "#" * 2_000_000 + "\n", "holds more than 1000000 bytes"),
    }
    for name, (text, _) in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.yaml")
    regular = "is not a regular file (a device, a pipe or a socket)"
    return tmp_path, {**{n: m for n, (_, m) in files.items()}, "zero.yaml": regular, "fifo.yaml": regular}


def test_hostile_yaml_files_are_one_line_and_exit_2(hostile_files):
    folder, expected = hostile_files
    for name, message in expected.items():
        for command in (["validate", name], ["run", name]):
            result = subprocess.run(COMMAND + command, cwd=folder, capture_output=True, text=True, timeout=60,
                                    preexec_fn=_memory_limit)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (name, result.stderr[-2000:])
            assert lines[0].startswith(name)
    assert not (folder / "studies").exists()


def test_a_recursive_alias_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "s.yaml").write_text("study: {name: x}\n")
    result = subprocess.run(COMMAND + ["validate", "s.yaml", "--set", "study.name=&a [*a]"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, preexec_fn=_memory_limit)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert "--set: study.name: value '&a [*a]' is not YAML (invalid YAML: a recursive alias" in result.stderr


def _memory_limit():
    """At most 2 GB of address space: a file that would expand without bound fails the test, not the machine."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


TOO_LONG = "too long for SQLite, which opens a database whose full path has at most 504 bytes (give a shorter path)"


@pytest.mark.parametrize("url, says", [
    ("sqlite:///file:x.db?mode=memory&uri=true",
     "names an in-memory SQLite database, which keeps nothing (give a file: sqlite:///studies/x.db)"),
    ("sqlite:///file::memory:?cache=shared&uri=true", "names an in-memory SQLite database"),
    ("sqlite:////dev/null", "/dev/null is not a regular file (a device, a pipe or a socket): only a file can hold "
                            "an SQLite database (point --storage at a file)"),
    ("sqlite:///.", "is a folder: only a file can hold an SQLite database (point --storage at a file)"),
    ("sqlite:///" + "a" * 4000 + ".db", TOO_LONG),
    ("sqlite:///" + "a/" * 2000 + "x.db", TOO_LONG),
    ("sqlite:///" + "a" * 300 + ".db", "File name too long"),  # a name over the OS's limit, in a short path
])
def test_a_storage_that_cannot_hold_a_study_is_one_line_exit_2_and_nothing_is_made(tmp_path, monkeypatch, url, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fit.py").write_text("def main(config, reporter):\n    reporter.report(1, {'acc': config['x']})\n")
    (tmp_path / "space.yaml").write_text("study: {name: own, metric: acc, direction: maximize, n_trials: 1}\n"
                                         "task: {type: custom, entry: fit.py:main}\nspace: {x: {choices: [0.5]}}\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = RUNNER.invoke(app, ["run", "space.yaml", "--storage", url])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and says in lines[0], result.output[-1000:]
    assert lines[0].startswith("error: storage 'sqlite:///")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
