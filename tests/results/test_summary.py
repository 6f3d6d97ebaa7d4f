"""studies, show, best, compare and export on a stored study of real tiny trials, end to end."""

import json

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from helpers import cli, load_study
from hpsearch.results import summary as results
from hpsearch.store.tables import Tables


def load(stored, name="alpha"):
    return load_study(stored.storage, name)


def table_rows(stdout: str) -> list[list[str]]:
    """The body rows of the rich tables in `stdout`, each a list of its cells' text."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in stdout.splitlines()
            if line.startswith("│")]


def test_studies_lists_every_study_with_counts(stored_studies):
    rows = {r.name: r for r in results.list_studies(Tables.open(stored_studies.storage))}
    assert set(rows) == {"alpha", "beta"}
    study = load(stored_studies)
    alpha = rows["alpha"]
    assert sum(alpha.states.values()) == len(study.trials)
    assert alpha.states.get("COMPLETE", 0) == len(study.get_trials(states=(TrialState.COMPLETE,)))
    assert alpha.best == [study.best_value] and alpha.task == "sequence-classification"
    assert alpha.last_activity is not None
    result = cli("studies", "--storage", stored_studies.storage)
    assert result.returncode == 0, result.stderr
    listed = {row[0]: row for row in table_rows(result.stdout)}
    assert sorted(listed) == ["alpha", "beta"]
    assert listed["alpha"][4:7] == [str(alpha.states.get(s, 0)) for s in ("COMPLETE", "PRUNED", "FAIL")]


def test_show_prints_the_space_progress_and_best_trials(stored_studies):
    result = cli("show", "alpha", "--storage", stored_studies.storage, "--top", "3")
    assert result.returncode == 0, result.stderr
    study = load(stored_studies)
    assert "optimizing eval_accuracy (maximize)" in result.stdout
    assert "space: learning_rate " in result.stdout
    listed = [row[0] for row in table_rows(result.stdout) if row[0]]  # a folded cell continues on a row without a number
    assert listed == [str(t.number) for t in results.ranked(study)[:3]]
    assert listed[0] == str(study.best_trial.number)
    assert "the 3 best trials" in " ".join(result.stdout.split())  # rich may wrap a title wider than its table


def test_best_as_yaml_json_and_training_arguments(stored_studies, tmp_path):
    study = load(stored_studies)
    as_yaml = yaml.safe_load(cli("best", "alpha", "--storage", stored_studies.storage).stdout)
    assert as_yaml["trial"] == study.best_trial.number
    assert as_yaml["searched"] == study.best_trial.params
    assert as_yaml["config"]["max_steps"] == 30 and as_yaml["objectives"]["eval_accuracy"] == study.best_value
    as_json = json.loads(cli("best", "alpha", "--storage", stored_studies.storage, "-f", "json").stdout)
    assert as_json == as_yaml
    out = tmp_path / "args.json"
    result = cli("best", "alpha", "--storage", stored_studies.storage, "-f", "args", "-o", out)
    assert result.returncode == 0 and "dropout=" in result.stderr  # a model-config value, not a Trainer field
    from transformers import TrainingArguments

    arguments = TrainingArguments(**json.loads(out.read_text()))  # ready to train with
    assert arguments.learning_rate == study.best_trial.params["learning_rate"] and arguments.max_steps == 30


def test_compare_shows_compute_and_importances(stored_studies):
    rows = results.compare(Tables.open(stored_studies.storage), ["alpha", "beta"])
    for row in rows:
        study = load(stored_studies, row.name)
        finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert row.compute.train_seconds == pytest.approx(sum(t.user_attrs["train_seconds"] for t in finished))
        assert row.compute.samples == sum(t.user_attrs["stop_step"] * 16 for t in finished)
        cut = [t for t in finished if t.state == TrialState.PRUNED  # a prune at the last step saves nothing
               and t.user_attrs["stop_step"] < t.user_attrs["planned_steps"]]
        assert (row.compute.saved_samples > 0) == bool(cut)
        complete = study.get_trials(states=(TrialState.COMPLETE,))
        if len(complete) >= 4:
            assert set(row.importances) == {"learning_rate", "dropout", "optimizer"}, row.importance_note
            assert sum(row.importances.values()) == pytest.approx(1.0)
        else:
            assert row.importances == {}
            assert row.importance_note == f"too few complete trials ({len(complete)}) to weigh the hyperparameters"
    result = cli("compare", "alpha", "beta", "--storage", stored_studies.storage)
    assert result.returncode == 0 and "saved by pruning" in result.stdout and "importance" in result.stdout


@pytest.mark.parametrize("format", ["csv", "json", "parquet"])
def test_export_writes_one_row_per_trial(stored_studies, tmp_path, format):
    out = tmp_path / f"alpha.{format}"
    result = cli("export", "alpha", "--storage", stored_studies.storage, "-f", format, "-o", out)
    assert result.returncode == 0, result.stderr
    frame = {"csv": pd.read_csv, "json": pd.read_json, "parquet": pd.read_parquet}[format](out)
    study = load(stored_studies)
    assert len(frame) == len(study.trials)
    assert {"number", "state", "value_eval_accuracy", "param_learning_rate", "train_seconds",
            "best_metrics.eval_accuracy"} <= set(frame.columns)


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "nope"], "error: no study 'nope' in this database (it has: alpha, beta)"),
        (["best", "alpha", "-f", "xml"], "error: --format must be yaml, json or args, but got 'xml'"),
        (["export", "alpha", "-f", "xls"], "error: --format must be csv, json or parquet, but got 'xls'"),
    ],
)
def test_bad_requests_are_one_line_exit_2(stored_studies, args, message):
    result = cli(*args, "--storage", stored_studies.storage)
    assert result.returncode == 2 and result.stderr.strip() == message


def test_a_missing_database_is_named_and_not_created(tmp_path):
    result = cli("studies", cwd=tmp_path)
    assert result.returncode == 2 and "no study database at studies/hpsearch.db" in result.stderr
    assert not (tmp_path / "studies").exists()


def boundary_study(values, low=1e-5, high=1e-3):
    study = optuna.create_study(direction="maximize")
    dist = optuna.distributions.FloatDistribution(low, high, log=True)
    for lr, score in values:
        study.add_trial(optuna.trial.create_trial(params={"learning_rate": lr}, distributions={"learning_rate": dist},
                                                  value=score))
    return study


def test_boundary_warnings_name_the_edge_and_a_wider_range():
    crowded = boundary_study([(9e-4, 0.9), (9.5e-4, 0.88), (8e-4, 0.87), (1e-5, 0.2), (3e-5, 0.3)])
    found = results.boundaries(crowded, top=3)
    assert [(b.name, b.edge) for b in found] == [("learning_rate", "high")]
    assert "upper edge of 1e-05 .. 0.001" in str(found[0]) and "high: 0.01" in str(found[0])
    spread = boundary_study([(1e-4, 0.9), (9e-4, 0.88), (2e-5, 0.87), (3e-4, 0.2)])
    assert results.boundaries(spread, top=3) == []


def edge_study(name, dist, best_values):
    """A maximized study whose best trials hold `best_values` of entry `name`, and a worse one elsewhere."""
    study = optuna.create_study(direction="maximize")
    for rank, value in enumerate(best_values):
        study.add_trial(optuna.trial.create_trial(params={name: value}, distributions={name: dist}, value=1 - rank / 10))
    middle = (dist.low + dist.high) / 2 if not isinstance(dist.low, int) else (dist.low + dist.high) // 2
    study.add_trial(optuna.trial.create_trial(params={name: middle}, distributions={name: dist}, value=0.0))
    return study


@pytest.mark.parametrize("name, dist, values, hint", [
    # the quickstart's early_stopping_patience 1 .. 3 at 1: nothing lies below 1
    ("early_stopping_patience", optuna.distributions.IntDistribution(1, 3), [1, 1, 1],
     "1 is already the lowest value early_stopping_patience can take"),
    ("dropout", optuna.distributions.FloatDistribution(0.0, 0.2), [0.0, 0.01, 0.005],
     "0 is already the lowest value dropout can take"),
    ("dropout", optuna.distributions.FloatDistribution(0.1, 0.5), [0.1, 0.11, 0.12], "e.g. low: 0"),  # not -0.3
    ("momentum", optuna.distributions.FloatDistribution(0.9, 0.999), [0.999, 0.998, 0.997], "e.g. high: 0.9995"),
    ("lora_r", optuna.distributions.IntDistribution(2, 64, log=True), [2, 2, 2], "e.g. low: 1"),  # not 0.2
    ("learning_rate", optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True), [1e-5, 1.1e-5],
     "e.g. low: 1e-06"),
])
def test_boundary_hints_stay_inside_the_domain(name, dist, values, hint):
    [found] = results.boundaries(edge_study(name, dist, values), top=len(values))
    text = str(found)
    assert hint in text, text
    assert "already" not in hint or "widen" not in text


def test_compare_names_a_pareto_front_member_for_several_objectives(tmp_path):
    url = f"sqlite:///{tmp_path / 'multi.db'}"
    study = optuna.create_study(study_name="multi", storage=url, directions=["maximize", "minimize"])
    study.set_user_attr("objectives", ["eval_accuracy", "eval_loss"])
    distribution = {"dropout": optuna.distributions.FloatDistribution(0.0, 0.5)}
    for dropout, values in [(0.1, [0.6, 0.9]), (0.2, [0.7, 0.5]), (0.3, [0.5, 0.4]), (0.4, [0.4, 0.8])]:
        study.add_trial(optuna.trial.create_trial(params={"dropout": dropout}, distributions=distribution,
                                                  values=values, user_attrs={"train_seconds": 1.0}))
    [row] = results.compare(Tables.open(url), ["multi"])
    front = [t.values for t in study.best_trials]
    assert row.best in front and row.directions == ["maximize", "minimize"]
    assert row.objectives == ["eval_accuracy", "eval_loss"] and row.compute.train_seconds == 4.0
    assert set(row.importances) == {"dropout"}


@pytest.mark.parametrize("recorded, line", [
    (None, None), ({}, None), ("garbled", None),
    ({"a": 3, "b": 0}, "warm-started from a (3 trials used), b (0 trials used): they informed the sampler and are "
                       "not this study's trials"),
])
def test_warm_start_line(recorded, line):
    from hpsearch.store.history import ATTR_WARM_START

    study = optuna.create_study()
    if recorded is not None:
        study.set_user_attr(ATTR_WARM_START, recorded)
    assert results.warm_start_line(study) == line


BUILT_IN = "study: {name: x, metric: eval_accuracy}\ntask: {type: sequence-classification, model: minilm-l6}\n"
CUSTOM = "study: {name: x, metric: score, direction: maximize}\ntask: {type: custom, entry: train.py:main}\n"
Int, Float = optuna.distributions.IntDistribution, optuna.distributions.FloatDistribution


@pytest.mark.parametrize("head, name, dist, values", [
    (CUSTOM, "width", Int(1, 64, log=True), [1, 1, 1]),  # a log range needs low >= 1: not 0
    (CUSTOM, "width", Int(2, 64, log=True), [2, 2, 2]),
    (CUSTOM, "scale", Float(1e-3, 1.0, log=True), [1e-3, 1e-3]),
    (CUSTOM, "scale", Float(1.0, 1e308), [1e308, 1e308]),  # not inf
    (CUSTOM, "scale", Float(1.0, 1e308, log=True), [1e308, 1e308]),
    (CUSTOM, "scale", Float(-1e308, 0.0), [-1e308, -1e308]),
    (CUSTOM, "width", Int(1, 2147483000), [2147483000, 2147483000]),  # not 4294965999
    (CUSTOM, "width", Int(1, 2147483000, log=True), [2147483000, 2147483000]),
    (BUILT_IN, "max_steps", Int(10, 2147483000), [2147483000, 2147483000]),
    (BUILT_IN, "learning_rate", Float(1e-5, 1e-3, log=True), [1e-5, 1e-5]),
    (BUILT_IN, "weight_decay", Float(5e-324, 1e-3, log=True), [5e-324, 5e-324]),  # a tenth of it is 0
    (BUILT_IN, "batch_size", Int(1, 64, log=True), [1, 1, 1]),
    (BUILT_IN, "dropout", Float(0.1, 0.9999999), [0.9999999, 0.9999999]),  # halfway to 1 prints as 1 at 4 digits
    (BUILT_IN, "beta2", Float(0.9, 0.999), [0.999, 0.999]),
])
def test_every_boundary_hint_is_a_range_the_space_accepts(head, name, dist, values):
    from hpsearch.spec.space import load_text

    [found] = results.boundaries(edge_study(name, dist, values), top=len(values))
    text = str(found)
    if "widen" not in text:  # no wider range: the edge is where the entry ends
        assert "already the" in text
        return
    hinted = text.rsplit(f"e.g. {found.edge}: ", 1)[1]
    low, high = (hinted, repr(dist.high)) if found.edge == "low" else (repr(dist.low), hinted)
    kind = "int" if isinstance(dist, Int) else "float"
    typed = f"type: {kind}, " if head == CUSTOM else ""
    spec = load_text(f"{head}space:\n  {name}: {{{typed}low: {low}, high: {high}, log: {str(dist.log).lower()}}}\n")
    entry = spec.space[name]
    assert (entry.low < dist.low) if found.edge == "low" else (entry.high > dist.high), text
