"""The commands that look at a stored study, on a study built with Optuna directly (no training)."""


import optuna
import pytest

from helpers import hpsearch


@pytest.mark.parametrize("top", ["0", "-1"])
def test_show_needs_at_least_one_best_trial(made_study, top):
    result = hpsearch("show", "made", "--top", top, cwd=made_study)
    assert result.returncode == 2 and result.stderr.strip() == f"error: --top must be at least 1, but got {top}"
    assert result.stdout == ""


def test_show_lists_the_best_trials(made_study):
    result = hpsearch("show", "made", "--top", "2", cwd=made_study)
    assert result.returncode == 0, result.stderr
    assert "the 2 best trials" in result.stdout


@pytest.mark.parametrize("command, tampered", [
    *(("show", t) for t in (42, {"study": "x"}, "study: [", "just text", "study: {name: made}\nspace: {lr: 1}\n")),
    ("confirm", "study: ["),
])
def test_a_tampered_stored_space_is_one_line_exit_1(made_study, tampered, command):
    study = optuna.load_study(study_name="made", storage=f"sqlite:///{made_study}/studies/hpsearch.db")
    study.set_user_attr("hpsearch:spec", tampered)
    result = hpsearch(command, "made", cwd=made_study)
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
    result = hpsearch(*args, cwd=made_study)
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
    refused = hpsearch(*args, cwd=made_study)
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"error: --output {output} already exists; add --force to replace it, or name another file")
    assert (made_study / output).read_text() == "mine\n"
    forced = hpsearch(*args, "--force", cwd=made_study)
    assert forced.returncode == 0, forced.stderr
    assert (made_study / output).read_text() != "mine\n"


def test_report_checks_the_png_folder_before_writing_the_html(made_study):
    (made_study / "figures").write_text("a file, not a folder\n")
    result = hpsearch("report", "made", "--png", "figures", cwd=made_study)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: --png figures is a file; name a folder (it is created where missing)")
    assert not (made_study / "made.html").exists()
