"""The space a study keeps, read back: under the study's own name in the database, never a copy's half."""

import optuna
import pytest

from helpers import hpsearch
from hpsearch.errors import StudyError
from hpsearch.store import studies
from hpsearch.store.stored_spec import load_stored_spec


def test_a_copied_study_reads_back_under_its_own_name(made_study):
    url = f"sqlite:///{made_study}/studies/hpsearch.db"
    optuna.copy_study(from_study_name="made", from_storage=url, to_storage=url, to_study_name="made-v2")
    assert load_stored_spec("made-v2", studies.storage_for(url)).study.name == "made-v2"  # not its text's "made"
    assert load_stored_spec("made", studies.storage_for(url)).study.name == "made"


def test_an_incomplete_copy_is_refused_in_one_line_and_nothing_is_created(made_study):
    url = f"sqlite:///{made_study}/studies/hpsearch.db"
    copy = f"sqlite:///{made_study}/copy.db"
    optuna.copy_study(from_study_name="made", from_storage=url, to_storage=copy,
                      to_study_name="made" + studies.INCOMPLETE)
    with pytest.raises(StudyError, match="is an incomplete copy"):
        load_stored_spec("made" + studies.INCOMPLETE, studies.storage_for(copy))
    for command in ("resume", "worker"):
        result = hpsearch(command, "made (incomplete copy)", "--storage", copy, cwd=made_study)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            "error: study 'made (incomplete copy)' is an incomplete copy of study 'made' (its copy was stopped, or is "
            "still under way): copy it again with hpsearch copy made --from SOURCE --to URL, which replaces it")
        assert optuna.get_all_study_names(copy) == ["made (incomplete copy)"]  # no study 'made' was created
