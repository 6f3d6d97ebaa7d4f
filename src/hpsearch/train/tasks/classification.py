"""Sequence classification: a pretrained encoder with a fresh classification head, scored by accuracy / F1."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hpsearch.errors import TrialSetupError
from hpsearch.train import data
from hpsearch.train.tasks.base import Setup, load_config, reduce, resolve_model
from hpsearch.trial import TrialJob


def setup(job: TrialJob, config: dict[str, Any]) -> Setup:
    """Model, tokenized data, metrics and loss for one trial of `job` with hyperparameters `config`."""
    splits = data.load_splits(job.spec.task.dataset, job.spec.base_dir)
    names = splits.label_names
    return build(job, config, splits, compute_metrics, loss_function(config, splits.train_labels, len(names)),
                 num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})


def build(job: TrialJob, config: dict[str, Any], splits: data.TextSplits, compute_metrics, loss_func,
          **config_overrides: Any) -> Setup:
    """A pretrained encoder (or decoder) with a fresh head over `splits`, shaped by the trial's values."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from hpsearch.train import lora

    task = job.spec.task
    path = resolve_model(config.get("model_size"), task.model, job.spec.base_dir)
    notes: list[str] = []
    trust = task.trust_remote_code
    model_config = load_config(path, config, notes, trust_remote_code=trust, **config_overrides)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:  # decoder-only tokenizers (GPT-2, Llama)
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model_config, "pad_token_id", None) is None:  # a decoder's head reads the last non-pad token
        model_config.pad_token_id = tokenizer.pad_token_id
    length = int(config.get("sequence_length", 128))
    limit = getattr(model_config, "max_position_embeddings", None)
    if limit and length > limit:
        notes.append(f"warning: sequence_length is capped at the model's {limit} positions "
                     f"(max_position_embeddings); values above {limit} act as {limit}")
        length = limit
    train, evaluation = data.tokenized(splits, tokenizer, length, job.cache_dir)
    # a checkpoint that already has a head of another size (2 classes, now 3 or 1 score) gets a fresh one
    model = AutoModelForSequenceClassification.from_pretrained(path, config=model_config, trust_remote_code=trust,
                                                               ignore_mismatched_sizes=True)
    if task.peft == "lora":
        model = lora.wrap(model, config, "SEQ_CLS", notes)
    return Setup(
        model=model,
        tokenizer=tokenizer,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        compute_loss_func=loss_func,
        notes=notes,
    )


def compute_metrics(prediction) -> dict[str, float]:
    """Accuracy and macro-averaged F1 of the predicted classes."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    predicted = np.asarray(logits).argmax(-1)
    labels = np.asarray(prediction.label_ids)
    f1s = []
    for label in np.unique(np.concatenate([labels, predicted])):
        tp = np.sum((predicted == label) & (labels == label))
        precision_den, recall_den = np.sum(predicted == label), np.sum(labels == label)
        denominator = precision_den + recall_den
        f1s.append(2 * tp / denominator if denominator else 0.0)
    return {"accuracy": float(np.mean(predicted == labels)), "f1": float(np.mean(f1s))}


def loss_function(config: dict[str, Any], train_labels: list[int], n_labels: int):
    """The Trainer's `compute_loss_func` for the trial's `loss`.

    Every loss is computed here, the model's own cross entropy included: the model averages over its
    batch, which under gradient accumulation would make the gradient k times too large (transformers
    trusts a model whose forward takes **kwargs to divide by the items of all k batches; BERT's does not).
    """
    loss = config.get("loss", "cross_entropy")
    functional = torch.nn.functional
    if loss in ("cross_entropy", "label_smoothed_cross_entropy"):
        smoothing = float(config.get("label_smoothing", 0.1)) if loss == "label_smoothed_cross_entropy" else 0.0

        def cross_entropy(outputs, labels, num_items_in_batch=None):
            each = functional.cross_entropy(outputs["logits"], labels, label_smoothing=smoothing, reduction="none")
            return reduce(each, num_items_in_batch)

        return cross_entropy
    if loss == "class_weighted_cross_entropy":
        counts = np.bincount(train_labels, minlength=n_labels).astype(float)
        # n / (k * count): a class seen half as often weighs twice as much; a class never seen weighs 0.
        # Over the training set the weights average 1, so the loss keeps the scale of cross entropy.
        weights = torch.tensor(np.where(counts > 0, len(train_labels) / (n_labels * np.maximum(counts, 1)), 0.0),
                               dtype=torch.float32)

        def weighted(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"]
            each = weights.to(logits.device)[labels] * functional.cross_entropy(logits, labels, reduction="none")
            return reduce(each, num_items_in_batch)

        return weighted
    if loss == "focal":
        gamma = float(config.get("focal_gamma", 2.0))

        def focal(outputs, labels, num_items_in_batch=None):
            log_p = functional.log_softmax(outputs["logits"], dim=-1).gather(1, labels[:, None]).squeeze(1)
            # (1 - p)^gamma shrinks the loss of examples the model already gets right.
            return reduce(-(1 - log_p.exp()) ** gamma * log_p, num_items_in_batch)

        return focal
    raise TrialSetupError(f"loss {loss!r} does not fit class labels (sequence-regression takes it)")
