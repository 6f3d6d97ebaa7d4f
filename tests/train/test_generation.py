"""causal-lm and generation: a tiny decoder learns a task in seconds, so decoding choices measurably matter."""

import math

import optuna
import pytest
from optuna.trial import TrialState

from helpers import ROOT
from hpsearch.errors import SpaceError, StudyError
from hpsearch.run.study_loop import run_study
from hpsearch.spec.space import load_space, load_text
from hpsearch.store.studies import storage_for
from hpsearch.train.tasks.generation import decoding
from hpsearch.train.worker import run
from hpsearch.trial import TrialJob
from tiny import Channel, make_csv, make_decoder


def make_pairs(path, rows=240, seed=0):
    """Prompts of sentiment words among fillers; the target names the sentiment."""
    make_csv(path, rows, seed, header="prompt,target")


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_assets):
    root = tmp_path_factory.mktemp("generation")
    make_decoder(root / "decoder", tiny_assets / "model")
    make_pairs(root / "pairs.csv")
    (root / "texts.csv").write_text((root / "pairs.csv").read_text().replace("prompt,target", "text,label"))
    return root


TRAIN = """
study: {{name: {name}, n_trials: 1, sampler: {{name: random, seed: 0}}, pruner: none{study}}}
task:
  type: generation
  model: decoder
  dataset: {{path: pairs.csv, eval_size: 40}}
  prompt_template: "{{prompt}} ->"
  max_new_tokens: 3
  eval_every: 20{task}
fixed: {{max_steps: 100, batch_size: 16, learning_rate: 0.003, sequence_length: 16}}
"""


def spec(project, name="train", study="", task="", extra=""):
    return load_text(TRAIN.format(name=name, study=study, task=task) + extra, base_dir=str(project))


def test_decoding_options():
    assert decoding({"learning_rate": 1e-3}) == {"do_sample": False}  # nothing to sample with: greedy
    assert decoding({"temperature": 0.5}) == {"do_sample": True, "temperature": 0.5, "top_p": 1.0, "top_k": 50}


def test_a_generation_trial_learns_and_is_scored_by_generating(project):
    result = run(TrialJob(spec(project), 0, spec(project).fixed, None, None), Channel())
    assert result.state == "complete"
    metrics = result.best_metrics
    assert metrics["eval_token_f1"] > 0.9 and metrics["eval_exact_match"] > 0.9  # greedy, on a learned task
    assert result.value == metrics["eval_token_f1"]
    assert [step for step, _ in result.history] == [20, 40, 60, 80, 100]  # evaluations followed eval_loss


def test_eval_with_generation_scores_every_evaluation(project):
    s = spec(project, task="\n  eval_with: generation")
    channel = Channel()
    result = run(TrialJob(s, 0, s.fixed, None, None), channel)
    assert len(channel.reports) == 5 and all(0 <= v <= 1 for _, v in channel.reports)  # token F1 at each
    assert result.history == [list(r) for r in channel.reports]


def test_causal_lm_reports_perplexity(project):
    text = TRAIN.format(name="lm", study="", task="").replace("type: generation", "type: causal-lm").replace(
        "pairs.csv", "texts.csv").replace('  prompt_template: "{prompt} ->"\n  max_new_tokens: 3\n', "")
    s = load_text(text, base_dir=str(project))
    result = run(TrialJob(s, 0, s.fixed, None, None), Channel())
    metrics = result.best_metrics
    assert metrics["eval_perplexity"] == pytest.approx(math.exp(metrics["eval_loss"]))
    assert metrics["eval_perplexity"] < 40 / 2  # well below guessing among the 40 tokens
    assert result.history[0][1] > result.history[-1][1]  # the loss falls


def test_the_shipped_causal_lm_example_runs_on_a_local_decoder(project):
    """search_spaces/causal_lm.yaml itself (MiniLM offline), pointed at the tiny decoder and texts by --set."""

    spec = load_space(ROOT / "search_spaces" / "causal_lm.yaml", [
        f"task.model={project / 'decoder'}", f"task.dataset={{path: {project / 'texts.csv'}, eval_size: 40}}",
        "study.n_trials=2", "fixed.max_steps=20", "task.eval_every=10", "fixed.sequence_length=16"])
    assert spec.task.type == "causal-lm" and spec.metric == "eval_loss"
    summary = run_study(spec, storage=f"sqlite:///{project}/studies/causal.db")
    assert summary.finished == 2 and summary.states == {"COMPLETE": 2}
    assert summary.best_metrics["eval_perplexity"] == pytest.approx(math.exp(summary.best_value))


@pytest.fixture(scope="module")
def trained(project):
    """A study that trains the decoder once and keeps its model."""
    (project / "train.yaml").write_text(TRAIN.format(name="train", study="", task=""))
    summary = run_study(load_space(project / "train.yaml"), storage=f"sqlite:///{project}/studies/hpsearch.db")
    assert summary.best_model_dir
    return summary


DECODE = """
study: {{name: decode, n_trials: {n}, metric: eval_exact_match, sampler: {{name: random, seed: 1}}, pruner: {pruner}}}
task:
  type: generation
  from_study: train
  dataset: {{path: pairs.csv, eval_size: 40}}
  prompt_template: "{{prompt}} ->"
  max_new_tokens: 3
space:
  temperature: {{low: 0.05, high: 20.0, log: true}}
"""


def test_a_decoding_study_trains_nothing_and_finds_a_low_temperature_better(project, trained):
    path = project / "decode.yaml"
    path.write_text(DECODE.format(n=8, pruner="none"))
    assert load_space(path).decode_only
    run_study(load_space(path), storage=f"sqlite:///{project}/studies/hpsearch.db")
    study = optuna.load_study(study_name="decode", storage=storage_for(f"sqlite:///{project}/studies/hpsearch.db"))
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 8 and all(t.user_attrs["train_seconds"] == 0 for t in done)
    by_temperature = sorted(done, key=lambda t: t.params["temperature"])
    coldest, hottest = by_temperature[0], by_temperature[-1]
    assert coldest.value > hottest.value + 0.3  # sampling hot on a learned task makes errors
    assert study.best_trial.params["temperature"] < 1.0
    assert len(done[0].user_attrs["history"]) == 40  # one score per evaluation prompt


def test_the_wilcoxon_pruner_stops_decoding_trials_that_fall_behind(project, trained):
    path = project / "wilcoxon.yaml"
    path.write_text(DECODE.format(n=6, pruner="{name: wilcoxon, p_threshold: 0.1}").replace("decode,", "wilcoxon,"))
    run_study(load_space(path), storage=f"sqlite:///{project}/studies/hpsearch.db")
    study = optuna.load_study(study_name="wilcoxon", storage=storage_for(f"sqlite:///{project}/studies/hpsearch.db"))
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned and all(len(t.user_attrs["history"]) < 40 for t in pruned)


def test_from_study_needs_a_study_with_a_kept_model(project):
    path = project / "orphan.yaml"
    path.write_text(DECODE.format(n=1, pruner="none").replace("from_study: train", "from_study: nothing"))
    with pytest.raises(StudyError, match="task.from_study: no study 'nothing'"):
        run_study(load_space(path), storage=f"sqlite:///{project}/studies/hpsearch.db")


@pytest.mark.parametrize(
    "text, message",
    [
        (DECODE.format(n=1, pruner="none") + "  learning_rate: documented\n",
         "task.from_study: decodes a trained model: the space may then hold only decoding entries"),
        ("study: {name: t}\ntask: {dataset: {path: d.csv}, max_new_tokens: 4}\n",
         "task.max_new_tokens: acts only for task.type: generation"),
        ("study: {name: t}\ntask: {type: generation, dataset: {path: d.csv}, prompt_template: 'Q:'}\n",
         "task.prompt_template: must contain {prompt}"),
        ("study: {name: t}\ntask: {type: causal-lm, dataset: {path: d.csv}}\nfixed: {loss: focal}\n",
         "fixed.loss: focal does not fit causal-lm"),
    ],
)
def test_generation_settings_are_checked(text, message):
    with pytest.raises(SpaceError) as caught:
        load_text(text)
    assert any(message in str(p) for p in caught.value.problems), caught.value.problems


def test_eval_with_loss_warns_that_the_pruner_sees_nothing():
    text = TRAIN.format(name="t", study="", task="").replace("pruner: none", "pruner: median")
    warnings = [str(w) for w in load_text(text).warnings]
    assert any("the median pruner never sees eval_token_f1" in w for w in warnings), warnings
