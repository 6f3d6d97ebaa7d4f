"""Task types by name: what each trains, which metrics it reports, and whether it generates text.

The registry holds only light metadata so that validating a space file imports no torch; each task's
training code lives in its own module, named here and imported when a trial runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskInfo:
    """What the space file and the study loop need to know of a task type before any training."""

    name: str
    description: str
    metrics: dict[str, str]  # metric name -> the direction in which it improves
    generates: bool = False
    module: str | None = None  # "hpsearch.train.tasks.classification"; None while the type is declared only
    losses: tuple[str, ...] = ()  # the catalogue's loss choices that fit its labels; the first is the default
    custom: bool = False  # the user's own training function: its metrics are whatever it reports
    preload: tuple[str, ...] = ()  # modules its trials import, loaded once by the fork server (run/libraries.py)

    @property
    def default_metric(self) -> str | None:
        return next(iter(self.metrics), None)


# Quantities every trial records, usable as (secondary) objectives whatever the task.
COMMON_METRICS = {"train_seconds": "minimize", "peak_memory_mb": "minimize", "n_parameters": "minimize"}

TASKS: dict[str, TaskInfo] = {
    "sequence-classification": TaskInfo(
        "sequence-classification",
        "label each text with one of a fixed set of classes",
        {"eval_accuracy": "maximize", "eval_f1": "maximize", "eval_loss": "minimize"},
        module="hpsearch.train.tasks.classification",
        losses=("cross_entropy", "label_smoothed_cross_entropy", "focal", "class_weighted_cross_entropy"),
    ),
    "sequence-regression": TaskInfo(
        "sequence-regression",
        "predict a number (a score, a rating) for each text",
        {"eval_mse": "minimize", "eval_mae": "minimize", "eval_r2": "maximize", "eval_loss": "minimize"},
        module="hpsearch.train.tasks.regression",
        losses=("mse", "huber"),
    ),
    "causal-lm": TaskInfo(
        "causal-lm",
        "continue text: a decoder-only model learns the next token",
        {"eval_loss": "minimize", "eval_perplexity": "minimize"},
        module="hpsearch.train.tasks.causal_lm",
        losses=("cross_entropy", "label_smoothed_cross_entropy"),
    ),
    "generation": TaskInfo(
        "generation",
        "answer prompts with generated text, scored against targets",
        {"eval_token_f1": "maximize", "eval_exact_match": "maximize", "eval_chrf": "maximize",
         "eval_loss": "minimize"},
        generates=True,
        module="hpsearch.train.tasks.generation",
        losses=("cross_entropy", "label_smoothed_cross_entropy"),
    ),
    "sft": TaskInfo(
        "sft",
        "instruction-tune a decoder on chat (messages), prompt / completion or text data with TRL's SFTTrainer",
        {"eval_loss": "minimize", "eval_perplexity": "minimize"},
        module="hpsearch.train.tasks.sft", preload=("trl.trainer.sft_trainer",),
    ),
    "custom": TaskInfo(
        "custom",
        "your own training function (task.entry), called with each trial's configuration and a reporter",
        {},  # the function reports its own metrics: study.metric and study.direction name the watched one
        module="hpsearch.train.tasks.custom",
        custom=True,
    ),
}
