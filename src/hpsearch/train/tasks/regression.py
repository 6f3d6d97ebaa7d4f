"""Sequence regression: a pretrained encoder with a one-number head, trained with mse or huber loss.

The labels are numbers (a rating, a score); the model has `problem_type="regression"` and one output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hpsearch.train import data
from hpsearch.train.tasks.base import Setup, reduce
from hpsearch.train.tasks.classification import build
from hpsearch.trial import TrialJob


def setup(job: TrialJob, config: dict[str, Any]) -> Setup:
    """Model, tokenized data, metrics and loss for one regression trial."""
    splits = data.load_splits(job.spec.task.dataset, job.spec.base_dir, numeric=True)
    return build(job, config, splits, compute_metrics, loss_function(config), num_labels=1,
                 problem_type="regression")


def compute_metrics(prediction) -> dict[str, float]:
    """Mean squared and absolute error, and R² (the share of the labels' variance the model explains)."""
    predictions = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    predicted = np.asarray(predictions, dtype=float).reshape(-1)
    labels = np.asarray(prediction.label_ids, dtype=float).reshape(-1)
    errors = predicted - labels
    variance = float(np.var(labels))
    mse = float(np.mean(errors**2))
    return {"mse": mse, "mae": float(np.mean(np.abs(errors))), "r2": 1.0 - mse / variance if variance else 0.0}


def loss_function(config: dict[str, Any]):
    """The Trainer's `compute_loss_func`: the squared error (mse) or the Huber loss with the trial's delta.

    Computed here rather than by the model so that gradient accumulation averages correctly (see reduce).
    """
    delta = float(config.get("huber_delta", 1.0)) if config.get("loss", "mse") == "huber" else None

    def regression_loss(outputs, labels, num_items_in_batch=None):
        predicted = outputs["logits"].squeeze(-1)
        target = labels.to(predicted.dtype)
        if delta is None:
            each = torch.nn.functional.mse_loss(predicted, target, reduction="none")
        else:  # quadratic for errors below delta, linear above: outliers pull less than under mse
            each = torch.nn.functional.huber_loss(predicted, target, delta=delta, reduction="none")
        return reduce(each, num_items_in_batch)

    return regression_loss
