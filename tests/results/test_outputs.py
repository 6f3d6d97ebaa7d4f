"""hpsearch.results.outputs: an output path is checked before anything is written."""

import os
from pathlib import Path

import pytest

from hpsearch.errors import UsageError
from hpsearch.results.outputs import check_file, check_folder


@pytest.fixture
def database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "hpsearch.db").write_bytes(b"SQLite format 3\0")
    return "sqlite:///studies/hpsearch.db"


@pytest.mark.parametrize("spelling", ["studies/hpsearch.db", "./studies/../studies/hpsearch.db", "{root}/studies/hpsearch.db",
                                      "link.db", "hard.db", "studies/hpsearch.db-wal"])
@pytest.mark.parametrize("force", [False, True])
def test_the_study_database_is_never_an_output(database, tmp_path, spelling, force):
    (tmp_path / "link.db").symlink_to(tmp_path / "studies" / "hpsearch.db")
    os.link(tmp_path / "studies" / "hpsearch.db", tmp_path / "hard.db")
    with pytest.raises(UsageError, match=r"is the study's database \(studies/hpsearch.db\); name another file"):
        check_file(Path(spelling.format(root=tmp_path)), database, force)


def test_an_existing_file_needs_force(database, tmp_path):
    (tmp_path / "space.yaml").write_text("study: {name: x}\n")
    with pytest.raises(UsageError, match="space.yaml already exists; add --force to replace it"):
        check_file(tmp_path / "space.yaml", database, force=False)
    assert check_file(tmp_path / "space.yaml", database, force=True) == tmp_path / "space.yaml"
    assert check_file(tmp_path / "new.yaml", database, force=False) == tmp_path / "new.yaml"


def test_a_folder_or_a_missing_folder_is_refused(database, tmp_path):
    with pytest.raises(UsageError, match="is a folder; name a file"):
        check_file(tmp_path / "studies", database, force=True)
    with pytest.raises(UsageError, match="the folder .*nowhere does not exist"):
        check_file(tmp_path / "nowhere" / "x.csv", database, force=True)


def test_png_files_are_checked_before_the_folder_is_made(database, tmp_path):
    with pytest.raises(UsageError, match="--png .*report.html is a file; name a folder"):
        (tmp_path / "report.html").write_text("<html>")
        check_folder(tmp_path / "report.html", [], database, force=True)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "01-history.png").write_bytes(b"png")
    files = [tmp_path / "figures" / "01-history.png", tmp_path / "figures" / "02-slices.png"]
    with pytest.raises(UsageError, match="01-history.png already exists"):
        check_folder(tmp_path / "figures", files, database, force=False)
    assert check_folder(tmp_path / "figures", files, database, force=True) == tmp_path / "figures"
    fresh = [tmp_path / "new" / file.name for file in files]
    assert check_folder(tmp_path / "new", fresh, database, force=False) == tmp_path / "new"
    assert not (tmp_path / "new").exists()
