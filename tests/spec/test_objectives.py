"""Several objectives, the watched metric, constraints: validated in the file, honoured by the study."""

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.errors import SpaceError
from hpsearch.run.study_loop import run_study
from hpsearch.search.build import build_pruner
from hpsearch.spec.space import load_space, load_text
from hpsearch.store.studies import storage_for

BASE = "study:\n  name: t\n{study}\ntask: {{dataset: {{path: d.csv}}}}\n"


def spec(study):
    return load_text(BASE.format(study=study), file="f.yaml")


def problems(study):
    with pytest.raises(SpaceError) as caught:
        spec(study)
    return [str(p) for p in caught.value.problems]


def test_one_metric_is_one_objective_and_is_watched():
    s = spec("  metric: eval_f1")
    assert [(o.name, o.direction) for o in s.objectives] == [("eval_f1", "maximize")]
    assert (s.metric, s.direction, s.multi_objective) == ("eval_f1", "maximize", False)


def test_several_objectives_take_their_directions_from_the_metrics():
    s = spec("  metric: [train_seconds, eval_accuracy, n_parameters]")
    assert [o.direction for o in s.objectives] == ["minimize", "maximize", "minimize"]
    assert s.metric == "eval_accuracy" and s.multi_objective
    assert isinstance(build_pruner(s.plugin_options), optuna.pruners.NopPruner)
    assert any("pruning is off" in str(w) for w in s.warnings)


@pytest.mark.parametrize(
    "study, message",
    [
        ("  metric: [eval_accuracy, train_seconds]\n  direction: maximize",
         "f.yaml:4: study.direction: give one direction per metric"),
        ("  metric: [eval_accuracy, train_seconds]\n  direction: [maximize]", "gives 1 directions for 2 metrics"),
        ("  metric: [eval_accuracy, train_seconds]\n  direction: [maximize, maximize]",
         "study.direction.1: train_seconds improves when it goes the other way: set minimize for it"),
        ("  metric: [eval_accuracy, train_secs]", "study.metric.1: unknown metric of sequence-classification "
                                                  "'train_secs' (did you mean train_seconds?)"),
        ("  metric: [train_seconds, peak_memory_mb]", "study.metric: needs at least one metric the task evaluates"),
        ("  metric: train_seconds", "study.metric: needs at least one metric the task evaluates"),
        ("  metric: [eval_accuracy, eval_accuracy]", "names a metric twice"),
        ("  metric: [eval_accuracy, train_seconds]\n  pruner: median",
         "study.pruner: Optuna cannot prune a study with several objectives"),
        ("  metric: [eval_accuracy, train_seconds]\n  sampler: cmaes", "the cmaes sampler handles one objective only"),
        ("  metric: []", "study.metric: must be a metric name"),
        ("  constraints: {peak_memory: {max: 10}}", "study.constraints.peak_memory: unknown recorded quantity"),
        ("  constraints: {n_parameters: {}}", "study.constraints.n_parameters: needs max: or min:"),
        ("  constraints: {n_parameters: {min: 5, max: 2}}", "min (5.0) must not be above max (2.0)"),
        ("  constraints: {n_parameters: {most: 2}}", "study.constraints.n_parameters.most: unknown key"),
    ],
)
def test_bad_objectives_are_named(study, message):
    found = problems(study)
    assert any(message in p for p in found), found


def tiny(project, study_lines, n_trials=4):
    path = project(n_trials=n_trials)
    path.write_text(path.read_text().replace("  pruner: {name: none}\n", study_lines))
    return path


def test_a_multi_objective_study_records_a_pareto_front(tiny_project):
    path = tiny(tiny_project, "  metric: [eval_accuracy, n_parameters]\n  direction: [maximize, minimize]\n",
                n_trials=4)
    path.write_text(path.read_text().replace("  dropout: documented", "  model_size: {choices: [1, 2]}"))
    summary = run_study(load_space(path))
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["eval_accuracy", "n_parameters"]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4
    for trial in done:
        assert trial.values == [trial.user_attrs["best_metrics"]["eval_accuracy"], trial.user_attrs["n_parameters"]]
        assert trial.intermediate_values == {}  # several objectives: nothing is reported to a pruner
    assert {n for n, _, _ in summary.pareto} == {t.number for t in study.best_trials}
    kept = {p.name for p in (tiny_project.root / "studies" / "models" / "hpsearch.db" / "tiny").iterdir()}
    assert kept == {f"trial-{t.number}" for t in study.best_trials}  # the front's models, no other


def test_constraint_violators_are_recorded_infeasible(tiny_project):
    path = tiny(tiny_project, "  constraints: {n_parameters: {max: 1}}\n", n_trials=2)
    assert run_study(load_space(path)).infeasible == 2
    study = optuna.load_study(study_name="tiny", storage=storage_for(tiny_project.storage))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)  # kept, not dropped
    assert all(t.user_attrs["feasible"] is False and t.system_attrs["constraints"][0] > 0 for t in study.trials)
    with pytest.raises(ValueError):
        study.best_trial  # noqa: B018 - no feasible trial, so no best one


def test_a_model_without_the_knob_is_refused_before_the_study_exists(tiny_project):
    path = tiny_project()
    path.write_text(path.read_text().replace("  dropout: documented", "  model_size: {low: 1, high: 5}"))
    with pytest.raises(SpaceError, match="space.model_size: asks for up to 5 layers"):
        run_study(load_space(path))
    assert not (tiny_project.root / "studies" / "hpsearch.db").exists()
