"""hpsearch.run.preflight: what is refused before a study is touched."""

import pytest

from hpsearch.errors import StudyError
from hpsearch.run import preflight, protocol
from hpsearch.run.progress import Progress
from hpsearch.spec.space import load_space


def test_a_fork_server_that_dies_as_it_starts_is_a_study_error_not_a_traceback(tiny_project, monkeypatch):
    def dies(*args, **kwargs):
        raise EOFError  # what multiprocessing raises when the fork server ends before it answers

    monkeypatch.setattr(protocol, "spawn", dies)
    with pytest.raises(StudyError, match="cannot read the model's configuration: the process that starts trials "
                                         "failed to start one .*out of memory"):
        preflight.check(load_space(tiny_project()), tiny_project.storage, "none", Progress(enabled=False))
    assert not (tiny_project.root / "studies").exists()  # nothing touched
