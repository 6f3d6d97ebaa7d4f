"""Trials through the ask / tell loop, in worker processes, stored in SQLite: real tiny trials where training is
what is checked, zero-cost trials (hpsearch.run.targets.ZERO_COST) where the loop's scheduling and storage are."""

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.errors import StudyError, StudyStopped
from hpsearch.run.study_loop import run_study
from hpsearch.run.targets import ZERO_COST, ZERO_COST_REPORTS, zero_cost_value
from hpsearch.spec.space import load_space
from hpsearch.store.stored_spec import load_stored_spec
from hpsearch.store.studies import storage_for
from hpsearch.store.trials import ATTR_REASON


def trials(project, name="tiny"):
    study = optuna.load_study(study_name=name, storage=storage_for(project.storage))
    return study, study.get_trials()


def test_a_study_runs_and_records_each_trial(tiny_project):
    summary = run_study(load_space(tiny_project(n_trials=3)))
    assert summary.finished == 3 and summary.ran == 3
    study, done = trials(tiny_project)
    assert [t.state for t in done] == [TrialState.COMPLETE] * 3
    for trial in done:
        attrs = trial.user_attrs
        assert attrs["stop_reason"] in ("completed", "stopped_early")
        assert attrs["history"] and all(len(point) == 2 for point in attrs["history"])
        # the trial's value is its best evaluation, and its step is recorded
        assert trial.value == max(v for _, v in attrs["history"])
        assert [s for s, v in attrs["history"] if v == trial.value][0] == attrs["best_step"]
        assert trial.intermediate_values == {int(s): v for s, v in attrs["history"]}
        for key in ("train_seconds", "samples_per_second", "peak_memory_mb", "device", "versions", "n_parameters",
                    "config", "effective_batch_size"):
            assert key in attrs, key
        assert attrs["config"]["max_steps"] == 30 and attrs["stop_step"] <= 30
    assert summary.best_value == study.best_value
    assert study.user_attrs["hpsearch:spec"] == (tiny_project.root / "space.yaml").read_text()
    assert study.user_attrs["hpsearch:sha256"] == load_space(tiny_project.root / "space.yaml").sha256


def test_the_best_trial_beats_the_majority_class(tiny_project):
    run_study(load_space(tiny_project(n_trials=4)))
    study, _ = trials(tiny_project)
    assert study.best_value > 0.9  # the majority class scores 0.58 on this data


def test_only_the_best_model_is_kept(tiny_project):
    run_study(load_space(tiny_project(n_trials=3)))
    study, _ = trials(tiny_project)
    kept = sorted(p.name for p in (tiny_project.root / "studies" / "models" / "hpsearch.db" / "tiny").iterdir())
    assert kept == [f"trial-{study.best_trial.number}"]
    assert study.user_attrs["best_model_dir"].endswith(kept[0])
    assert (tiny_project.root / "studies" / "models" / "hpsearch.db" / "tiny" / kept[0] / "config.json").exists()


def _files(folder):
    return {p.relative_to(folder): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_two_databases_in_one_folder_keep_their_own_models(tiny_project):
    """The same study run into a.db, into b.db beside it, and copied to c.db and continued there: a.db's
    kept model is never replaced or removed, and each database's best model is its own."""
    from hpsearch.store.studies import copy

    spec = load_space(tiny_project(n_trials=2))
    url = {name: f"sqlite:///{tiny_project.root}/studies/{name}.db" for name in "abc"}
    run_study(spec, storage=url["a"])
    best = {"a": trials_of(url["a"]).user_attrs["best_model_dir"]}
    before = _files(Path(best["a"]))
    run_study(spec, storage=url["b"])
    copy("tiny", url["a"], url["c"])
    run_study(spec.with_budget(n_trials=4), storage=url["c"])
    for name in "bc":
        best[name] = trials_of(url[name]).user_attrs["best_model_dir"]
    assert _files(Path(best["a"])) == before and before
    assert Path(best["b"]).is_dir() and best["b"] != best["a"]
    assert Path(best["c"]).is_dir()


def trials_of(url):
    return optuna.load_study(study_name="tiny", storage=storage_for(url))


@pytest.mark.parametrize("save, expected", [("none", 0), ("all", 3)])
def test_save_all_or_none(tiny_project, save, expected):
    text = tiny_project(n_trials=3).read_text().replace("name: tiny", f"name: tiny\n  save: {save}")
    (tiny_project.root / "space.yaml").write_text(text)
    run_study(load_space(tiny_project.root / "space.yaml"))
    folder = tiny_project.root / "studies" / "models" / "hpsearch.db" / "tiny"
    assert len(list(folder.glob("trial-*"))) == expected


def test_pruned_trials_stop_at_once_and_record_the_step(tiny_project):
    # A threshold no trial reaches at its first evaluation: every trial is pruned at step 5.
    run_study(load_space(tiny_project(n_trials=2, pruner="{name: threshold, lower: 1.01}")))
    _, done = trials(tiny_project)
    assert [t.state for t in done] == [TrialState.PRUNED] * 2
    for trial in done:
        assert trial.user_attrs["stop_reason"] == "pruned" and trial.user_attrs["stop_step"] == 5
        assert list(trial.intermediate_values) == [5]


def test_early_stopping_after_patience_flat_evaluations(tiny_project):
    # A learning rate too small to move accuracy: every evaluation equals the first.
    path = tiny_project(n_trials=1, extra="")
    text = path.read_text().replace("  learning_rate: {low: 5.0e-3, high: 3.0e-2, log: true}\n",
                                    "  learning_rate: {low: 1.0e-9, high: 2.0e-9}\n")
    path.write_text(text.replace("  sequence_length: 16\n", "  sequence_length: 16\n  early_stopping_patience: 2\n"))
    run_study(load_space(path))
    _, (trial,) = trials(tiny_project)
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs["stop_reason"] == "stopped_early"
    assert trial.user_attrs["stop_step"] == 15 and trial.user_attrs["best_step"] == 5


def test_a_failing_trial_is_recorded_and_three_in_a_row_stop_the_study(tiny_project):
    path = tiny_project(n_trials=5, extra="")
    text = path.read_text().replace("  sequence_length: 16\n", "  sequence_length: 16\n  lora_target_modules: q_proj\n")
    path.write_text(text.replace("task:\n", "task:\n  peft: lora\n"))  # a module BERT does not have
    with pytest.raises(StudyStopped, match="3 trials in a row failed.*no linear layer named q_proj"):
        run_study(load_space(path))
    _, done = trials(tiny_project)
    assert [t.state for t in done] == [TrialState.FAIL] * 3
    assert "no linear layer named q_proj" in done[0].user_attrs[ATTR_REASON]
    assert "Traceback" in done[0].user_attrs["traceback"]


def test_rerunning_continues_and_never_starts_over(zero_project):
    path = zero_project(n_trials=2)
    run_study(load_space(path), target=ZERO_COST)
    again = run_study(load_space(path), target=ZERO_COST)
    assert again.ran == 0 and again.finished == 2
    more = run_study(load_space(path).with_budget(n_trials=3), target=ZERO_COST)
    assert more.ran == 1 and more.finished == 3


def test_a_different_space_is_refused_unless_forced(zero_project):
    path = zero_project(n_trials=1)
    run_study(load_space(path), target=ZERO_COST)
    path.write_text(path.read_text().replace("dropout: documented", "dropout: {low: 0.1, high: 0.2}"))
    with pytest.raises(StudyError, match=r"(?s)different space.*--force.*dropout"):
        run_study(load_space(path), target=ZERO_COST)
    assert run_study(load_space(path).with_budget(n_trials=2), force=True, target=ZERO_COST).finished == 2


def test_set_overrides_are_stored_with_the_study(zero_project):
    path = zero_project(n_trials=1)
    run_study(load_space(path, ["fixed.max_steps=10"]), target=ZERO_COST)
    study, done = trials(zero_project)
    assert done[0].user_attrs["config"]["max_steps"] == 10
    assert load_stored_spec("tiny", storage_for(zero_project.storage)).fixed["max_steps"] == 10  # resume sees it
    with pytest.raises(StudyError, match=r"(?s)different space.*\+--set fixed.max_steps=20"):
        run_study(load_space(path, ["fixed.max_steps=20"]), target=ZERO_COST)
    budget = load_space(path, ["fixed.max_steps=10", "study.n_trials=2"])
    assert run_study(budget, target=ZERO_COST).finished == 2  # budget: free


def test_budget_and_comments_may_change(zero_project):
    path = zero_project(n_trials=1)
    run_study(load_space(path), target=ZERO_COST)
    path.write_text("# a comment\n" + path.read_text().replace("n_trials: 1", "n_trials: 2\n  timeout: 1h"))
    assert run_study(load_space(path), target=ZERO_COST).finished == 2


def test_tokenization_is_cached_across_trials_and_runs(tiny_project):
    path = tiny_project(n_trials=2)
    run_study(load_space(path))
    run_study(load_space(path).with_budget(n_trials=3))
    assert len(list((tiny_project.root / "studies" / ".cache").glob("tok-*"))) == 1


def test_timeout_stops_starting_trials(zero_project):
    path = zero_project(n_trials=5000)
    summary = run_study(load_space(path).with_budget(timeout=1), target=ZERO_COST)
    assert summary.stopped_by == "timeout" and 1 <= summary.ran < 5000


def test_the_loop_tells_each_trial_what_its_target_sent(zero_project):
    summary = run_study(load_space(zero_project(n_trials=4)), target=ZERO_COST)
    study, done = trials(zero_project)
    assert summary.finished == summary.ran == 4 and [t.state for t in done] == [TrialState.COMPLETE] * 4
    for trial in done:
        assert trial.value == zero_cost_value(trial.number)
        assert trial.intermediate_values == {step: trial.value for step in range(1, ZERO_COST_REPORTS + 1)}
        assert trial.user_attrs["stop_reason"] == "completed" and trial.user_attrs["config"]["max_steps"] == 30
    assert summary.best_value == study.best_value == max(t.value for t in done)


def test_the_pruner_stops_a_zero_cost_trial_at_its_first_report(zero_project):
    path = zero_project(n_trials=2)
    path.write_text(path.read_text().replace("{name: none}", "{name: threshold, lower: 1.01}"))
    run_study(load_space(path), target=ZERO_COST)
    _, done = trials(zero_project)
    assert [t.state for t in done] == [TrialState.PRUNED] * 2
    assert [list(t.intermediate_values) for t in done] == [[1], [1]]
