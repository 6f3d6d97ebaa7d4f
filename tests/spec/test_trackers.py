"""`task.report_to`: tracker names checked by the schema, their packages checked for a file given here."""

import pytest

from hpsearch.errors import SpaceError
from hpsearch.spec import trackers
from hpsearch.spec.space import load_space

SPACE = """study:
  name: t
task:
  dataset: {{path: data.csv}}
  report_to: {report_to}
space:
  learning_rate: documented
"""


def write(tmp_path, report_to):
    path = tmp_path / "s.yaml"
    path.write_text(SPACE.format(report_to=report_to))
    return path


@pytest.mark.parametrize(("given", "read"), [
    ("tensorboard", ["tensorboard"]),
    ("[tensorboard, tensorboard]", ["tensorboard"]),
    ("none", []),
    ("[]", []),
])
def test_report_to_takes_a_name_or_a_list(tmp_path, given, read):
    assert load_space(write(tmp_path, given)).task.report_to == read


def test_off_by_default(make_spec):
    assert make_spec().task.report_to == []


@pytest.mark.parametrize(("given", "message"), [
    ("tensorbord", "task.report_to: unknown tracker 'tensorbord' (did you mean tensorboard?)"),
    ("[mlflow, 3]", "task.report_to: must be a tracker's name or a list of them (tensorboard, mlflow, wandb), but "
                    "got ['mlflow', 3]"),
])
def test_an_unknown_tracker_is_refused_at_its_line(tmp_path, given, message):
    path = write(tmp_path, given)
    with pytest.raises(SpaceError) as raised:
        load_space(path)
    assert [str(p) for p in raised.value.problems] == [f"{path}:5: {message}"]


def test_a_tracker_not_installed_names_its_package(tmp_path, monkeypatch):
    monkeypatch.setitem(trackers.TRACKERS, "wandb", ("hpsearch_no_such_package",))
    path = write(tmp_path, "[tensorboard, wandb]")
    with pytest.raises(SpaceError) as raised:
        load_space(path)
    assert [str(p) for p in raised.value.problems] == [
        f"{path}:5: task.report_to: wandb needs the hpsearch_no_such_package package, which is not installed "
        "(pip install hpsearch_no_such_package)"]
    assert raised.value.exit_code == 2


def test_a_stored_space_with_a_tracker_still_reads_where_it_is_not_installed(monkeypatch):
    from hpsearch.spec.space import load_text

    monkeypatch.setitem(trackers.TRACKERS, "wandb", ("hpsearch_no_such_package",))
    assert load_text(SPACE.format(report_to="wandb")).task.report_to == ["wandb"]


def test_missing_lists_each_absent_tracker(monkeypatch):
    monkeypatch.setitem(trackers.TRACKERS, "tensorboard", ("hpsearch_absent_a", "hpsearch_absent_b"))
    assert trackers.missing(["tensorboard"]) == [
        "tensorboard needs the hpsearch_absent_a package, which is not installed (pip install hpsearch_absent_a; "
        "hpsearch_absent_b also works)"]
    monkeypatch.setitem(trackers.TRACKERS, "tensorboard", ("json",))
    assert trackers.missing(["tensorboard"]) == []


def test_validate_says_it_in_one_line_and_exits_2(tmp_path):
    from helpers import hpsearch

    path = write(tmp_path, "[tensorbord]")
    done = hpsearch("validate", path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{path}:5: task.report_to: unknown tracker 'tensorbord' (did you mean "
                                        "tensorboard?)"]
