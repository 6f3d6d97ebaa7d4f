"""hpsearch.run.estimate: the budget in training work, the pace of earlier trials, the estimate and its lines."""

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hpsearch.run import estimate
from hpsearch.spec.space import load_text

SPACE = """
study: {{name: s, n_trials: 10, pruner: {pruner}}}
task: {{model: tiny-model, dataset: {{name: tweets-sentiment, train_size: 1000}}}}
fixed: {fixed}
space:
  learning_rate: {{low: 1.0e-5, high: 1.0e-3, log: true}}
  {searched}
"""


def spec_of(fixed="{max_steps: 60, batch_size: 16, sequence_length: 64}", searched="", pruner="plateau"):
    return load_text(SPACE.format(fixed=fixed, searched=searched, pruner=pruner), file="s.yaml")


@pytest.mark.parametrize("fixed, searched, steps, examples, tokens", [
    ("{max_steps: 60, batch_size: 16, sequence_length: 64}", "", 60, 16, 64),
    ("{batch_size: 16, num_epochs: 2}", "", 2 * 63, 16, 128),  # 1000 examples / 16 a step, rounded up, twice
    ("{max_steps: 60}", "batch_size: {choices: [8, 32]}", 60, 20, 128),
    ("{max_steps: 60, gradient_accumulation_steps: 2}", "max_grad_norm: {low: 0.5, high: 2.0}", 60, 32, 128),
    ("{sequence_length: 64}", "max_steps: {low: 10, high: 1000, log: true}", 100, 16, 64),
])
def test_the_budget_in_training_work(fixed, searched, steps, examples, tokens):
    plan = estimate.budget(spec_of(fixed, searched))
    assert (plan.trials, plan.steps, plan.examples, plan.tokens) == (10, steps, examples, tokens)


def fill(url, model="tiny-model", name="earlier", seconds=(8.0, 12.0), pruned_at=None):
    """An earlier study of `model`: trials of 40 planned steps at 16 examples x 64 tokens."""
    study = optuna.create_study(study_name=name, storage=url)
    study.set_user_attr("model", model)
    for number, train_seconds in enumerate(seconds):
        stop = pruned_at if pruned_at and number == 0 else 40
        study.add_trial(optuna.trial.create_trial(
            params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
            state=TrialState.PRUNED if stop != 40 else TrialState.COMPLETE, value=None if stop != 40 else 0.5,
            user_attrs={"train_seconds": train_seconds * stop / 40, "stop_step": stop, "planned_steps": 40,
                        "effective_batch_size": 16, "setup_seconds": 2.0, "device": "cpu",
                        "config": {"sequence_length": 64}}))


def test_the_pace_of_earlier_trials_of_the_same_model(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path}/db.sqlite"
    fill(url, pruned_at=10)
    fill(url, model="another", name="other", seconds=(1000.0,))
    pace = estimate.from_database(spec_of(), url)
    assert pace.per_token == pytest.approx([8 / (40 * 16 * 64), 12 / (40 * 16 * 64)])
    assert pace.setup == 2.0 and pace.saved == pytest.approx(30 / 80)
    assert pace.basis == "from 2 earlier trials of tiny-model (studies earlier; on cpu)"


def test_no_database_no_pace_and_none_created(tmp_path):
    assert estimate.from_database(spec_of(), f"sqlite:///{tmp_path}/none.db") is None
    assert not (tmp_path / "none.db").exists()


def test_the_estimate_scales_the_pace_to_this_budget(tmp_path):
    pace = estimate.Pace([1e-4, 2e-4, 3e-4, 4e-4, 5e-4], setup=2.0, saved=0.25, basis="from 5 earlier trials")
    record = estimate.estimate(spec_of(), pace, n_jobs=2)
    work = 10 * 60 * 16 * 64 * 0.75  # trials x steps x examples x tokens, less the quarter pruning saves
    assert record["device_seconds"][1] == pytest.approx(work * 3e-4 + 10 * 2.0)
    assert record["device_seconds"][0] < record["device_seconds"][1] < record["device_seconds"][2]
    assert record["machine_seconds"][1] == pytest.approx(record["device_seconds"][1] / 2)
    lines = estimate.describe(record)
    assert lines[0] == "expected compute: 10 trials x 60 steps (max_steps; 16 examples x 64 tokens a step)"
    assert "25% of the planned steps saved by pruning and early stopping" in lines[1]
    assert "2 trials at a time" in lines[2] and "device hours (" in lines[2]


def test_without_a_basis_the_estimate_says_how_to_get_one():
    lines = estimate.describe(estimate.estimate(spec_of(), None))
    assert lines[1].strip().startswith("no earlier trials of this model in the database") and "--calibrate" in lines[1]


def test_a_custom_task_is_not_estimated_and_cannot_be_calibrated(tmp_path, monkeypatch):
    from hpsearch.errors import UsageError

    own = load_text("study: {name: own, metric: acc, direction: maximize, n_trials: 7}\n"
                    "task: {type: custom, entry: t.py:main}\nfixed: {max_steps: 60, batch_size: 16}\n")
    pace = estimate.Pace([1e-5], 0.5, 0.0, "from earlier trials")
    optuna.create_study(study_name="earlier", storage=f"sqlite:///{tmp_path / 's.db'}")

    def read(*args):
        raise AssertionError("a custom task's estimate read the database")

    monkeypatch.setattr(estimate.optuna, "get_all_study_summaries", read)
    assert estimate.from_database(own, f"sqlite:///{tmp_path / 's.db'}") is None  # no pace in example-tokens
    record = estimate.estimate(own, pace)
    assert record == {"trials": 7, "custom": True}  # steps x examples x tokens is not its code's pace
    assert estimate.describe(record) == ["expected compute: 7 trials of your own training function, which hpsearch "
                                         "cannot time beforehand (show reports what the trials spent)"]
    with pytest.raises(UsageError, match="a custom task's cost is its own code's"):
        estimate.calibrate(own, None, None, progress=None)


def test_a_decoding_only_study_is_not_estimated_in_steps_nor_calibrated_and_its_generating_counts(tmp_path):
    from hpsearch.errors import UsageError

    decode = load_text("study: {name: d, n_trials: 5}\ntask: {type: generation, model: tiny-model, "
                       "dataset: {path: p.csv}}\nspace:\n  temperature: documented\n")
    assert decode.decode_only
    fill(f"sqlite:///{tmp_path / 's.db'}")  # earlier training trials of the same model: a pace in example-tokens
    assert estimate.from_database(spec_of(), f"sqlite:///{tmp_path / 's.db'}") is not None
    assert estimate.from_database(decode, f"sqlite:///{tmp_path / 's.db'}") is None  # not a decoding trial's
    record = estimate.estimate(decode, estimate.Pace([1e-5], 0.5, 0.0, "from earlier trials"))
    assert record == {"trials": 5, "decoding": True}
    assert estimate.describe(record)[0].startswith("expected compute: 5 trials that train nothing")
    with pytest.raises(UsageError, match="a decoding-only study trains nothing"):
        estimate.calibrate(decode, None, None, progress=None)
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"setup_seconds": 0.5, "train_seconds": 0.0,
                                                                     "decode_seconds": 2.5}))
    assert estimate.spent(study)[0] == 3.0  # generating is what a decoding trial spends


@pytest.mark.parametrize("seconds, text", [
    (30, "30 s"), (600, "10 min"), (7200, "2.0 h"), (3600 * 9999, "9999.0 h"), (4.1296905940344619e25, "1.1e+22 h"),
])
def test_durations_read_at_any_size(seconds, text):
    assert estimate.duration(seconds) == text


def test_the_sequence_length_is_capped_at_the_model_s_positions(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"max_position_embeddings": 512}')
    text = ("study: {name: x, metric: eval_accuracy, n_trials: 1000000}\n"
            "task: {type: sequence-classification, model: model, dataset: {name: tweets-sentiment}}\n"
            "fixed: {max_steps: 100, batch_size: 8}\nspace:\n  sequence_length: {low: 1000, high: 1000000000}\n")
    spec = load_text(text, base_dir=str(tmp_path))
    assert estimate.budget(spec).tokens == 512
    gpt = tmp_path / "gpt"
    gpt.mkdir()
    (gpt / "config.json").write_text('{"n_positions": 1024}')
    assert estimate.budget(load_text(text.replace("model: model", "model: gpt"), base_dir=str(tmp_path))).tokens == 1024
