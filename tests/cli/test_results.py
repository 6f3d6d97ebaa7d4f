"""The commands that look at a stored study, on a study built with Optuna directly (no training): each
command's happy path, and bad input: one line, exit 2, nothing written."""

import hashlib
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request

import optuna
import pandas as pd
import pytest
import yaml

from helpers import COMMAND, cli

DB = "sqlite:///studies/hpsearch.db"  # made_study's database, relative to the folder the commands run in


def rows(stdout: str) -> list[list[str]]:
    """The body rows of the rich tables in `stdout`, each a list of its cells' text."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in stdout.splitlines()
            if line.startswith("│")]


def files(folder) -> dict[str, str]:
    """Every file under `folder` with its checksum."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_studies_lists_the_study_with_its_counts(made_study):
    result = cli("studies", cwd=made_study)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    [row] = rows(result.stdout)
    assert row[:9] == ["made", "sequence-classification", "minilm-l6", "eval_accuracy (max)", "4", "0", "0", "0",
                       "0.8"]


@pytest.mark.parametrize("top", ["0", "-1"])
def test_show_needs_at_least_one_best_trial(made_study, top):
    result = cli("show", "made", "--top", top, cwd=made_study)
    assert result.returncode == 2 and result.stderr.strip() == f"error: --top must be at least 1, but got {top}"
    assert result.stdout == ""


def test_show_lists_the_best_trials(made_study):
    result = cli("show", "made", "--top", "2", cwd=made_study)
    assert result.returncode == 0, result.stderr
    assert "the 2 best trials" in result.stdout
    assert "trials: complete 4\n" in result.stdout
    assert rows(result.stdout) == [["3", "0.8", "0.004", "1", "-", "-"], ["2", "0.7", "0.003", "3", "-", "-"]]


def test_best_prints_the_winner_or_writes_it(made_study):
    result = cli("best", "made", cwd=made_study)
    assert result.returncode == 0, result.stderr
    winner = {"learning_rate": 0.004, "early_stopping_patience": 1}
    assert yaml.safe_load(result.stdout) == {"study": "made", "trial": 3, "objectives": {"eval_accuracy": 0.8},
                                             "searched": winner, "config": winner, "metrics": {}, "model_dir": None}
    written = cli("best", "made", "-f", "json", "-o", "best.json", cwd=made_study)
    assert written.returncode == 0 and written.stdout == "wrote best.json\n", written.stderr
    assert yaml.safe_load((made_study / "best.json").read_text()) == yaml.safe_load(result.stdout)


def test_compare_shows_the_best_counts_and_importances(made_study):
    result = cli("compare", "made", cwd=made_study)
    assert result.returncode == 0, result.stderr
    table = {label: value for label, value in rows(result.stdout) if label}
    assert table["objective"] == "eval_accuracy (max)" and table["best"] == "0.8"
    assert (table["complete"], table["pruned"], table["fail"]) == ("4", "0", "0")
    assert table["best values"] == "early_stopping_patience=1" and table["importance"].startswith("learning_rate ")


def test_export_writes_every_trial(made_study):
    result = cli("export", "made", cwd=made_study)
    assert result.returncode == 0 and result.stdout == "wrote 4 trials to made.csv\n", result.stderr
    frame = pd.read_csv(made_study / "made.csv")
    assert list(frame["number"]) == [0, 1, 2, 3] and list(frame["value_eval_accuracy"]) == [0.5, 0.6, 0.7, 0.8]


def test_report_writes_one_html_file(made_study):
    result = cli("report", "made", cwd=made_study)
    assert result.returncode == 0 and result.stdout == "wrote made.html\n", result.stderr
    assert (made_study / "made.html").read_text().lstrip().lower().startswith("<!doctype html>")


def test_dashboard_serves_the_study_until_ctrl_c(made_study):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(COMMAND + ["dashboard", "--port", str(port)], cwd=made_study, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=30) as answer:
                    served = answer.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.2)
        assert '"study_name": "made"' in served
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0


@pytest.mark.parametrize("args, message", [
    (["studies", "--storage", "sqlite:///none.db"],
     "error: no study database at none.db (run a study first, or name another with --storage)"),
    (["show", "nope"], "error: no study 'nope' in this database (it has: made)"),
    (["best", "made", "-f", "xml", "-o", "best.xml"], "error: --format must be yaml, json or args, but got 'xml'"),
    (["best", "made", "-o", "no/such/folder/best.yaml"],
     "error: --output no/such/folder/best.yaml: the folder no/such/folder does not exist"),
    (["compare", "made", "nope"], "error: no study 'nope' in this database (it has: made)"),
    (["export", "made", "-f", "xls"], "error: --format must be csv, json or parquet, but got 'xls'"),
    (["export", "nope"], "error: no study 'nope' in this database (it has: made)"),
    (["report", "nope"], "error: no study 'nope' in this database (it has: made)"),
    (["dashboard", "--storage", "sqlite:///none.db"],
     "error: no study database at none.db (run a study first, or name another with --storage)"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(made_study, args, message):
    with sqlite3.connect(made_study / "studies" / "hpsearch.db") as connection:  # any write would show in the file
        connection.execute("PRAGMA journal_mode=DELETE")
    before = files(made_study)
    result = cli(*args, cwd=made_study)
    assert result.returncode == 2, result.stderr
    assert result.stderr == message + "\n" and result.stdout == ""
    assert files(made_study) == before


@pytest.mark.parametrize("args, message", [
    (["confirm", "nope"], "error: no study 'nope' in this database (it has: made)"),
    (["confirm", "made", "--top", "1"], "error: --top must be at least 2 and --seeds at least 1, but got 1 and 3"),
    (["confirm", "made", "--seeds", "0"], "error: --top must be at least 2 and --seeds at least 1, but got 3 and 0"),
])
def test_confirm_refuses_bad_input_before_recording_anything(made_study, args, message):
    def recorded():
        study = optuna.load_study(study_name="made", storage=DB)
        return study.user_attrs, [(t.number, t.state, t.user_attrs) for t in study.trials]

    before = recorded()
    result = cli(*args, cwd=made_study)
    assert result.returncode == 2, result.stderr
    assert result.stderr == message + "\n" and result.stdout == ""
    assert recorded() == before


@pytest.mark.parametrize("command, tampered", [
    *(("show", t) for t in (42, {"study": "x"}, "study: [", "just text", "study: {name: made}\nspace: {lr: 1}\n")),
    ("confirm", "study: ["),
])
def test_a_tampered_stored_space_is_one_line_exit_1(made_study, tampered, command):
    study = optuna.load_study(study_name="made", storage=f"sqlite:///{made_study}/studies/hpsearch.db")
    study.set_user_attr("hpsearch:spec", tampered)
    result = cli(command, "made", cwd=made_study)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: study 'made': its stored space (hpsearch:spec) is unreadable: "), line


def checksum(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args", [
    ["export", "made", "-f", "csv", "-o", "studies/hpsearch.db", "--force"],
    ["export", "made", "-o", "./studies/../studies/hpsearch.db"],
    ["report", "made", "-o", "studies/hpsearch.db", "--force"],
    ["best", "made", "-o", "db-link", "--force"],
])
def test_no_output_is_ever_written_onto_the_study_database(made_study, args):
    (made_study / "db-link").symlink_to(made_study / "studies" / "hpsearch.db")
    db = made_study / "studies" / "hpsearch.db"
    before = checksum(db)
    result = cli(*args, cwd=made_study)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "is the study's database (studies/hpsearch.db); name another file" in line
    assert checksum(db) == before and optuna.load_study(study_name="made", storage="sqlite:///studies/hpsearch.db")


@pytest.mark.parametrize("args, output", [
    (["best", "made", "-o", "space.yaml"], "space.yaml"),
    (["export", "made"], "made.csv"),
    (["report", "made", "-o", "space.yaml"], "space.yaml"),
])
def test_an_existing_file_is_replaced_only_with_force(made_study, args, output):
    (made_study / output).write_text("mine\n")
    refused = cli(*args, cwd=made_study)
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"error: --output {output} already exists; add --force to replace it, or name another file")
    assert (made_study / output).read_text() == "mine\n"
    forced = cli(*args, "--force", cwd=made_study)
    assert forced.returncode == 0, forced.stderr
    assert (made_study / output).read_text() != "mine\n"


def test_report_checks_the_png_folder_before_writing_the_html(made_study):
    (made_study / "figures").write_text("a file, not a folder\n")
    result = cli("report", "made", "--png", "figures", cwd=made_study)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: --png figures is a file; name a folder (it is created where missing)")
    assert not (made_study / "made.html").exists()
