"""sequence-regression: numeric labels, mse and huber losses that act, regression metrics."""

import random
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hpsearch.errors import DataError, SpaceError
from hpsearch.spec.space import load_text
from hpsearch.train.data import load_splits
from hpsearch.train.tasks.regression import compute_metrics, loss_function
from hpsearch.train.worker import run
from hpsearch.trial import TrialJob
from tiny import FILLER, WORDS, Channel


def make_scores(path, rows=200, seed=0):
    """Texts whose score is the number of good words minus the number of bad ones."""
    rng = random.Random(seed)
    lines = ["text,score"]
    for _ in range(rows):
        good = rng.randint(0, 3)
        words = rng.sample(FILLER, 2) + rng.sample(WORDS["good"], good) + rng.sample(WORDS["bad"], 3 - good)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{2 * good - 3}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def folder(tmp_path, tiny_assets):
    shutil.copytree(tiny_assets / "model", tmp_path / "model")
    make_scores(tmp_path / "scores.csv")
    return tmp_path


SPACE = ("study: {{name: t, metric: eval_mse}}\ntask: {{type: sequence-regression, model: model, eval_every: 10, "
         "dataset: {{path: scores.csv, label_column: score, eval_size: 50}}}}\n{extra}")



@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_a_regression_trial_learns_the_scores(folder, loss):
    spec = load_text(SPACE.format(extra=""), base_dir=str(folder))
    config = {"loss": loss, "max_steps": 60, "batch_size": 16, "learning_rate": 0.01, "sequence_length": 16}
    result = run(TrialJob(spec, 0, config, None, None), Channel())
    variance = np.var([2 * g - 3 for g in range(4)])  # a constant guess scores about the labels' variance
    assert result.best_metrics["eval_mse"] < 0.5 * variance
    assert result.best_metrics["eval_r2"] > 0.5


def test_huber_is_gentler_than_mse_on_large_errors():
    outputs = {"logits": torch.tensor([[0.0], [0.0]])}
    labels = torch.tensor([0.5, 10.0])
    huber = loss_function({"loss": "huber", "huber_delta": 1.0})(outputs, labels)
    mse = torch.nn.functional.mse_loss(outputs["logits"].squeeze(-1), labels)
    assert huber.item() == pytest.approx((0.5 * 0.25 + (10 - 0.5)) / 2)  # quadratic below delta, linear above
    assert huber < mse
    wide = loss_function({"loss": "huber", "huber_delta": 20.0})(outputs, labels)
    assert wide.item() == pytest.approx(mse.item() / 2)  # below delta everywhere: half the squared error
    assert loss_function({"loss": "mse"})(outputs, labels).item() == pytest.approx(mse.item())
    # under gradient accumulation, the sum over the items of all accumulated batches
    assert loss_function({"loss": "mse"})(outputs, labels, num_items_in_batch=4).item() == \
        pytest.approx(mse.item() / 2)


def test_regression_metrics():
    prediction = SimpleNamespace(predictions=np.array([[1.0], [2.0], [3.0]]), label_ids=np.array([1.0, 2.0, 5.0]))
    metrics = compute_metrics(prediction)
    assert metrics["mse"] == pytest.approx(4 / 3) and metrics["mae"] == pytest.approx(2 / 3)
    assert metrics["r2"] == pytest.approx(1 - (4 / 3) / np.var([1, 2, 5]))


def test_text_labels_are_refused_for_regression(folder, tiny_assets):
    shutil.copy(tiny_assets / "data.csv", folder / "data.csv")
    spec = load_text(SPACE.format(extra="").replace("scores.csv, label_column: score", "data.csv"))
    with pytest.raises(DataError, match="column 'label' holds '.*', not a number"):
        load_splits(spec.task.dataset, str(folder), numeric=True)


@pytest.mark.parametrize(
    "task, extra, message",
    [
        ("sequence-regression", "space: {loss: {choices: [mse, focal]}}",
         "space.loss: focal does not fit sequence-regression (it takes mse, huber)"),
        ("sequence-classification", "fixed: {loss: huber}", "fixed.loss: huber does not fit sequence-classification"),
    ],
)
def test_a_loss_must_fit_the_labels(task, extra, message):
    text = SPACE.format(extra=extra).replace("sequence-regression", task).replace("metric: eval_mse", "seed: 0")
    with pytest.raises(SpaceError, match=re.escape(message)):
        load_text(text)
