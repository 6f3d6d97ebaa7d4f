"""One trial in its own process: values -> task -> Trainer -> metric, talking to the study over a pipe.

The study process owns the database; this process only trains. At each evaluation it sends the metric
and waits for the pruner's answer, so a pruned trial stops at once. It never writes to storage, dies
with its parent, and ignores Ctrl-C (the study process decides what an interruption means).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import datasets
import torch
import transformers
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from hpsearch.run import faults
from hpsearch.run.job import TrialJob
from hpsearch.spec.tasks import TASKS
from hpsearch.train.arguments import trainer_kwargs, value_of
from hpsearch.train.tasks.base import Setup


class Channel:
    """The worker's end of the pipe to the study process."""

    def __init__(self, conn):
        self.conn = conn
        self._last_progress = 0.0

    def ask(self, *message: Any) -> Any:
        self.conn.send(message)
        try:
            return self.conn.recv()
        except (EOFError, OSError):  # the study process is gone: nothing left to train for
            os._exit(3)

    def report(self, step: int, value: float) -> bool:
        """Send an evaluation; True when the pruner says stop."""
        return self.ask("report", step, value) == "prune"

    def progress(self, step: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_progress > 1.0:
            self._last_progress = now
            self.conn.send(("progress", step, total))


def main(conn, job: TrialJob) -> None:
    """Process entry point: run the trial and send ("done", result) or ("error", message, traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if job.gpu is not None:  # before anything touches CUDA: this trial sees its one GPU as cuda:0
        os.environ["CUDA_VISIBLE_DEVICES"] = job.gpu
    gc.freeze()  # the libraries inherited from the fork server never need collecting (saves ~0.3 s a trial)
    try:
        begun = time.time()
        result = run(job, Channel(conn))
        result["worker_started"] = begun  # the overhead benchmark's breakdown: process start = this - ask
        conn.send(("done", result))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the study as the trial's reason
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
        conn.send(("error", message, traceback.format_exc()))
    finally:
        conn.close()


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent (the fork server) exits."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def versions() -> dict[str, str]:
    """The library versions a trial ran with, as plain strings: torch's own version object would make the
    study process import torch (180 MB) just to unpickle the result."""
    return {"torch": str(torch.__version__), "transformers": str(transformers.__version__)}


def training_arguments(job: TrialJob, config: dict[str, Any], output_dir: str) -> TrainingArguments:
    """The trial's values as TrainingArguments (the knobs the Trainer owns), for a run with no checkpoints."""
    kwargs = trainer_kwargs(config, adamw=TrainingArguments.default_optim)
    return TrainingArguments(
        output_dir=output_dir,
        **kwargs,
        per_device_eval_batch_size=max(kwargs["per_device_train_batch_size"], 64),
        eval_strategy="steps",
        eval_steps=job.spec.task.eval_every,
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=job.spec.study.seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )


class _Trainer(Trainer):
    """The Trainer, refusing to train on once the loss is NaN or infinite."""

    fault: faults.Fault | None = None

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
        if self.fault is not None and self.fault.kind == "nan" and step >= self.fault.step:
            loss = loss * float("nan")
            result = (loss, *result[1:]) if isinstance(result, tuple) else loss
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(f"the loss is {loss.detach().float().mean().item()} at step {step}; training "
                                     "stopped (lower the learning rate, or clip gradients with max_grad_norm)")
        return result


class FaultInjector(TrainerCallback):
    """Strikes the trial's planned fault (see hpsearch.run.faults) when its step begins."""

    def __init__(self, fault: faults.Fault):
        self.fault = fault

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.fault.step and self.fault.kind != "nan":
            faults.strike(self.fault)


class Monitor(TrainerCallback):
    """Reports each evaluation to the study, obeys the pruner, and stops after `patience` flat evaluations."""

    def __init__(self, job: TrialJob, channel: Channel, patience: int | None, keep_best: bool,
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


@dataclass
class Prepared:
    """A trial ready to train: its Trainer and what the task built for it."""

    trainer: Trainer
    setup: Setup
    monitor: Monitor
    args: TrainingArguments


def prepare(job: TrialJob, channel: Channel, output_dir: str) -> Prepared:
    """Build the trial's model, data and Trainer with its values, ready to train."""
    # 1. the process: threads, quiet libraries, reproducible seeds
    if job.threads:
        torch.set_num_threads(job.threads)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    transformers.set_seed(job.spec.study.seed)
    warnings.filterwarnings("ignore", category=FutureWarning)  # the libraries' deprecation notes: not the user's
    config = job.config
    # 2. the task builds model and data with the trial's values
    task = importlib.import_module(TASKS[job.spec.task.type].module)
    setup = task.setup(job, config)
    patience = config.get("early_stopping_patience")
    watched: dict[str, Any] = {}
    if setup.final_metrics is not None and job.spec.metric != "eval_loss":
        # scored once at the end: evaluations during training follow eval_loss and are not reported
        watched = {"metric": "eval_loss", "direction": "minimize"}
    monitor = Monitor(job, channel, int(patience) if patience else None,
                      keep_best=job.save_dir is not None or setup.final_metrics is not None,
                      extra_metrics=setup.extra_metrics, **watched)
    # 3. the Trainer, with no checkpoints on disk: only the kept model is ever written
    args = training_arguments(job, config, output_dir)
    fault = job.fault
    trainer = _Trainer(
        model=setup.model, args=args, train_dataset=setup.train_dataset, eval_dataset=setup.eval_dataset,
        data_collator=setup.data_collator, compute_metrics=setup.compute_metrics,
        compute_loss_func=setup.compute_loss_func,
        callbacks=[monitor] + ([FaultInjector(fault)] if fault else []),
    )
    trainer.fault = fault
    if value_of(config, "optimizer") == "adafactor":
        trainer.adafactor = {"decay_rate": float(value_of(config, "decay_rate"))}
    trainer.remove_callback(PrinterCallback)  # the study shows evaluations; the Trainer need not print them
    return Prepared(trainer, setup, monitor, args)


def run(job: TrialJob, channel: Channel) -> dict[str, Any]:
    """Train one trial and return what the study records of it."""
    if job.spec.decode_only:
        return decode(job, channel)
    with tempfile.TemporaryDirectory(prefix=f"hpsearch-trial{job.number}-") as output_dir:
        begun = time.perf_counter()
        prepared = prepare(job, channel, output_dir)
        trainer, setup, monitor, args = prepared.trainer, prepared.setup, prepared.monitor, prepared.args
        started = time.perf_counter()
        trainer.train()
        # 4. the last steps count too: evaluate them unless the trial already stopped
        if monitor.stop is None and (not monitor.history or monitor.history[-1][0] != trainer.state.global_step):
            trainer.evaluate()
        seconds = time.perf_counter() - started
    if setup.final_metrics is not None and monitor.stop != "pruned":
        # 5. a score too costly for every evaluation: once, on the model of the best evaluation
        if monitor.best_state is not None:
            setup.model.load_state_dict(monitor.best_state, strict=False)
        monitor.best_metrics.update(setup.final_metrics(setup.model, monitor.best_metrics))
    steps = trainer.state.global_step
    # 16 per device x 4 accumulation = 64 examples per optimizer update
    effective_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps
    result = {
        "state": "pruned" if monitor.stop == "pruned" else "complete",
        "value": monitor.best_metrics.get(job.spec.metric, monitor.best),
        "best_step": monitor.best_step,
        "stop_reason": monitor.stop or "completed",
        "stop_step": steps,
        "planned_steps": trainer.state.max_steps,  # what the trial would have trained without a stop
        "history": monitor.history,
        "history_seconds": monitor.seconds,  # compute spent by each evaluation: anytime curves, replays
        "best_metrics": monitor.best_metrics,
        "train_seconds": round(seconds, 3),
        "setup_seconds": round(started - begun, 3),  # data, tokenization, model load, Trainer
        "samples_per_second": round(steps * effective_batch / seconds, 2) if seconds else None,
        "effective_batch_size": effective_batch,
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "n_parameters": sum(p.numel() for p in setup.model.parameters()),
        "n_trainable_parameters": sum(p.numel() for p in setup.model.parameters() if p.requires_grad),
        "device": str(args.device),
        "threads": torch.get_num_threads(),
        "gpu": job.gpu,
        "versions": versions(),
        "notes": setup.notes,
    }
    # 6. keep the model of the trial's best evaluation, when the study wants it (a LoRA trial: its adapter)
    if job.save_dir is not None and result["state"] == "complete" and monitor.best_state is not None:
        if channel.ask("keep?", result["value"]) is True:
            setup.model.load_state_dict(monitor.best_state, strict=False)
            setup.model.save_pretrained(job.save_dir)
            setup.tokenizer.save_pretrained(job.save_dir)
            result["model_dir"] = str(job.save_dir)
    return result


def decode(job: TrialJob, channel: Channel) -> dict[str, Any]:
    """A decoding-only trial: generate for each evaluation prompt and score it; nothing is trained.

    Each prompt's score is reported as a step, so a pruner (Wilcoxon's, made for this) can stop a trial
    whose scores fall behind the best trial's on the same prompts.
    """
    prepared = prepare(job, channel, tempfile.gettempdir())
    scorer, model = prepared.setup.scorer, prepared.setup.model
    history: list[list[float]] = []

    def report(index: int, value: float) -> bool:
        history.append([index, value])
        channel.progress(index + 1, len(scorer.prompts))
        return channel.report(index, value)

    started = time.perf_counter()
    metrics, pruned = scorer.score(model, report)
    seconds = time.perf_counter() - started
    return {
        "state": "pruned" if pruned else "complete",
        "value": metrics.get(job.spec.metric),
        "best_step": len(history) - 1,
        "stop_reason": "pruned" if pruned else "completed",
        "stop_step": len(history),
        "history": history,
        "best_metrics": metrics,
        "train_seconds": 0.0,
        "decode_seconds": round(seconds, 3),
        "samples_per_second": round(len(history) * scorer.num_samples / seconds, 2) if seconds else None,
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(model.device),
        "threads": torch.get_num_threads(),
        "gpu": job.gpu,
        "versions": versions(),
        "notes": prepared.setup.notes,
    }
