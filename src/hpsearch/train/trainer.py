"""The Trainer as a trial uses it: TrainingArguments from the trial's values, a Trainer that refuses to train
on a NaN loss, the Monitor that reports evaluations to the study, and the step hooks a wrapping target added."""

from __future__ import annotations

import time
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from hpsearch.train import trackers
from hpsearch.train.arguments import trainer_kwargs
from hpsearch.trial import TrialJob, at_step


def training_arguments(job: TrialJob, config: dict[str, Any], output_dir: str, cls: type | None = None,
                       extra: dict[str, Any] | None = None) -> TrainingArguments:
    """The trial's values as TrainingArguments (the knobs the Trainer owns), for a run with no checkpoints; or as
    the task's own arguments class `cls` (a TrainingArguments subclass: TRL's SFTConfig), with its `extra` fields."""
    cls = cls or TrainingArguments
    kwargs = {**trainer_kwargs(config, adamw=cls.default_optim), **(extra or {})}
    return cls(
        output_dir=output_dir,
        **kwargs,
        per_device_eval_batch_size=max(kwargs["per_device_train_batch_size"], 64),
        eval_strategy="steps",
        eval_steps=job.spec.task.eval_every,
        save_strategy="no",
        **trackers.arguments(job),
        disable_tqdm=True,
        seed=job.spec.study.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )


class TrialTrainer(Trainer):
    """The Trainer, refusing to train on once the loss is NaN or infinite."""

    adafactor: dict[str, float] = {}  # Adafactor's own options, which the Trainer's optim_args do not reach

    def create_optimizer(self, *args, **kwargs):
        optimizer = super().create_optimizer(*args, **kwargs)
        for group in optimizer.param_groups if self.adafactor else ():
            group.update(self.adafactor)  # Adafactor reads its options from each param group at every step
        return optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        # inverse_sqrt decays over a timescale: the warmup, or transformers' 10,000 steps without one, which
        # would keep a fine-tune's learning rate flat. A tenth of the training makes it decay.
        args = self.args
        if args.lr_scheduler_type == "inverse_sqrt" and args.get_warmup_steps(num_training_steps) == 0:
            args.lr_scheduler_kwargs = {"timescale": max(1, num_training_steps // 10)}
        return super().create_scheduler(num_training_steps, optimizer)

    def compute_loss(self, model, inputs, *args, **kwargs):
        result = super().compute_loss(model, inputs, *args, **kwargs)
        loss = result[0] if isinstance(result, tuple) else result
        step = self.state.global_step + 1
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(f"the loss is {loss.detach().float().mean().item()} at step {step}; training "
                                     "stopped (lower the learning rate, or clip gradients with max_grad_norm)")
        return result


def trainer_class(base: type | None = None) -> type:
    """TrialTrainer, or TrialTrainer's checks over a task's own Trainer subclass (TRL's SFTTrainer)."""
    return TrialTrainer if base is None else type(f"Trial{base.__name__}", (TrialTrainer, base), {})


class StepHooks(TrainerCallback):
    """Begins each training step of the trial (hpsearch.trial.at_step): the hooks a wrapping target added run."""

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        at_step(state.global_step + 1, model)


class Monitor(TrainerCallback):
    """Reports each evaluation to the study, obeys the pruner, and stops after `patience` flat evaluations."""

    def __init__(self, job: TrialJob, channel, patience: int | None, keep_best: bool,
                 metric: str | None = None, direction: str | None = None, extra_metrics=None):
        # what evaluations during training follow: the study's watched metric, unless the task measures
        # something cheaper then (a generation study evaluated by eval_loss: no pruning, see prepare)
        self.metric = metric or job.spec.metric
        self.maximize = (direction or job.spec.direction) == "maximize"
        self.report = self.metric == job.spec.metric
        self.extra_metrics = extra_metrics
        self.channel = channel
        self.patience = patience
        self.keep_best = keep_best
        self.history: list[list[float]] = []
        self.seconds: list[float] = []  # since training began, at each evaluation (its own cost included)
        self.started = time.perf_counter()
        self.best: float | None = None
        self.best_step = 0
        self.best_metrics: dict[str, float] = {}
        self.best_state: dict[str, torch.Tensor] | None = None
        self.flat = 0
        self.stop: str | None = None
        self.model = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.model = model
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.channel.progress(state.global_step, state.max_steps)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics if metrics is not None else {}
        if self.extra_metrics is not None and self.model is not None:
            metrics.update(self.extra_metrics(self.model, metrics))
        if self.metric not in metrics:
            reported = ", ".join(k for k in metrics if k.startswith("eval_"))
            raise KeyError(f"the evaluation reports no {self.metric} (it reports {reported})")
        step, value = state.global_step, float(metrics[self.metric])
        self.history.append([step, value])
        self.seconds.append(round(time.perf_counter() - self.started, 3))
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best, self.best_step, self.flat = value, step, 0
            self.best_metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
            if self.keep_best and self.model is not None:
                # only what trains changes: a LoRA trial copies its adapters, not the frozen model
                trained = {name for name, p in self.model.named_parameters() if p.requires_grad}
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
                                   if k in trained}
        else:
            self.flat += 1
        if self.report and self.channel.report(step, value):
            self.stop = "pruned"
            control.should_training_stop = True
        elif self.patience and self.flat >= self.patience:
            self.stop = "stopped_early"
            control.should_training_stop = True
