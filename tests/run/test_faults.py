"""Each fault inside a trial fails (or prunes) only that trial, with the reason on it; the study goes on."""

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.errors import SpaceError, StudyError, StudyStopped
from hpsearch.run import faults
from hpsearch.run.study_loop import run_study
from hpsearch.spec.space import load_space
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_REASON


def test_parse_faults():
    assert faults.parse("1:segfault@3, 4:nan@2") == [faults.Fault(1, "segfault", 3), faults.Fault(4, "nan", 2)]
    assert faults.parse("") == [] and faults.parse(None) == []
    with pytest.raises(ValueError, match="is not TRIAL:KIND@STEP"):
        faults.parse("1:explode@3")


def test_every_fault_fails_only_its_trial(tiny_project, monkeypatch):
    monkeypatch.setenv(faults.ENV, "0:raise@2,1:memory@2,2:segfault@2,3:nan@2,4:hang@2,5:kill@2,6:exit@2")
    path = tiny_project(n_trials=2)
    path.write_text(path.read_text().replace("name: tiny", "name: tiny\n  trial_timeout: 8s"))
    summary = run_study(load_space(path))
    assert summary.finished == 2
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    trials = study.get_trials()
    reasons = {t.number: t.user_attrs.get(ATTR_REASON, "") for t in trials}
    assert [t.state for t in trials[:7]] == [TrialState.FAIL] * 7
    assert "RuntimeError: injected fault in the model at step 2" in reasons[0]
    assert "MemoryError: injected out-of-memory at step 2" in reasons[1]
    assert reasons[2] == "the trial's process was killed by SIGSEGV"
    assert reasons[3].startswith("FloatingPointError: the loss is nan at step 2; training stopped")
    assert reasons[4] == "exceeded the trial time limit of 8 s (study.trial_timeout)"
    assert reasons[5] == "the trial's process was killed by SIGKILL (out of memory?)"
    assert reasons[6] == "the trial's process exited with code 7 before reporting a result"
    assert [t.state for t in trials[7:]] == [TrialState.COMPLETE] * 2, reasons
    assert all(t.user_attrs["stop_reason"] == "failed" for t in trials[:7])


def test_trials_failing_the_same_way_stop_the_study(tiny_project, monkeypatch):
    monkeypatch.setenv(faults.ENV, "0:nan@2,1:nan@3,2:nan@4")
    with pytest.raises(StudyStopped, match="3 trials in a row failed the same way.*loss is nan") as stop:
        run_study(load_space(tiny_project(n_trials=5)))
    assert stop.value.exit_code == 1  # a runtime failure, not bad input


def test_a_malformed_fault_plan_is_refused_before_anything_runs(tiny_project, monkeypatch):
    monkeypatch.setenv(faults.ENV, "zero:raise@1")
    with pytest.raises(StudyError, match="HPSEARCH_FAULTS"):
        run_study(load_space(tiny_project(n_trials=1)))
    assert not (tiny_project.root / "studies").exists()


@pytest.mark.slow
def test_study_memory_stays_flat_over_100_trials(tiny_project):
    path = tiny_project(n_trials=100)
    path.write_text(path.read_text().replace("max_steps: 30", "max_steps: 5").replace("  sequence_length: 16\n",
                                             "  sequence_length: 16\n").replace("name: tiny", "name: tiny\n  save: none"))
    run_study(load_space(path))
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    rss = [t.user_attrs["study_process_rss_mb"] for t in study.get_trials()]
    assert len(rss) == 100
    assert rss[-1] - rss[10] < 15, rss  # a leak of even 0.2 MB a trial would show
    print(f"study process RSS over 100 trials: trial 1 {rss[1]} MB, trial 10 {rss[10]} MB, trial 99 {rss[-1]} MB")


def test_broken_data_is_refused_before_the_budget_burns(tiny_project):
    (tiny_project.root / "data.csv").write_text("text,labels\n" + "good movie,good\nbad movie,bad\n" * 20)
    with pytest.raises(SpaceError, match="space.yaml:9: task.dataset.label_column: .*data.csv has no column 'label'"):
        run_study(load_space(tiny_project(n_trials=20)))
    assert not (tiny_project.root / "studies").exists()  # no study, not three failed trials
