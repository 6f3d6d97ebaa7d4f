"""One trial in its own process: values -> task -> Trainer -> metric, talking to the study over a pipe.

The study process owns the database; this process only trains. At each evaluation it sends the metric
and waits for the pruner's answer, so a pruned trial stops at once. It never writes to storage, dies
with its parent, and runs in a session of its own, so a Ctrl-C at the terminal reaches the study process alone. A
KeyboardInterrupt here (the user's code raising it, a SIGINT sent to this process) is the user's interrupt too:
it is reported as such, and the study stops as on Ctrl-C, the trial left to run again.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import multiprocessing
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
from transformers import PrinterCallback, Trainer, TrainingArguments

from hpsearch.spec.tasks import TASKS
from hpsearch.train import shared
from hpsearch.train.arguments import value_of
from hpsearch.train.tasks import custom
from hpsearch.train.tasks.base import Setup
from hpsearch.train.trainer import Monitor, StepHooks, trainer_class, training_arguments
from hpsearch.trial import INTERRUPTED, KEEP, Channel, TrialJob, TrialResult, at_step


def main(conn, job: TrialJob) -> None:
    """The trial process's body: run the trial and send DONE with its TrialResult, or ERROR with why."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a SIGINT sent to the trial: KeyboardInterrupt
    _die_with_parent()
    # before anything touches CUDA: this trial sees its one GPU as cuda:0, and a run without GPUs (--gpus none)
    # none at all, so it trains on the CPU even on a machine that has some
    os.environ["CUDA_VISIBLE_DEVICES"] = "" if job.gpu is None else job.gpu
    gc.freeze()  # the libraries inherited from the fork server never need collecting (saves ~0.3 s a trial)
    channel = Channel(conn)
    try:
        begun = time.time()
        result = run(job, channel)
        result.worker_started = begun  # the overhead benchmark's breakdown: process start = this - ask
        channel.done(result)
    except KeyboardInterrupt:  # the user's interrupt, not a failure of the trial's values
        channel.error(INTERRUPTED, traceback.format_exc())
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the study as the trial's reason
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:500]
        channel.error(message, traceback.format_exc())
    finally:
        conn.close()


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent (the fork server) exits."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _peak_memory_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_gpu_memory_mb() -> float | None:
    """The most GPU memory the trial's tensors held at once (torch.cuda.max_memory_allocated), None on a CPU."""
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def versions() -> dict[str, str]:
    """The library versions a trial ran with, as plain strings: torch's own version object would make the
    study process import torch (180 MB) just to unpickle the result."""
    return {"torch": str(torch.__version__), "transformers": str(transformers.__version__)}


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
    _set_up_process(job)
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
    args = training_arguments(job, config, output_dir, setup.arguments_class, setup.arguments)
    trainer = trainer_class(setup.trainer_class)(
        model=setup.model, args=args, train_dataset=setup.train_dataset, eval_dataset=setup.eval_dataset,
        data_collator=setup.data_collator, compute_metrics=setup.compute_metrics,
        compute_loss_func=setup.compute_loss_func,
        callbacks=[monitor, StepHooks()], **setup.trainer_kwargs,
    )
    if value_of(config, "optimizer") == "adafactor":
        trainer.adafactor = {"decay_rate": float(value_of(config, "decay_rate"))}
    trainer.remove_callback(PrinterCallback)  # the study shows evaluations; the Trainer need not print them
    return Prepared(trainer, setup, monitor, args)


def _set_up_process(job: TrialJob) -> None:
    """This trial's threads and GPU share, quiet libraries, and reproducible seeds (random, numpy, torch)."""
    if job.threads:
        torch.set_num_threads(job.threads)
    if job.gpu_share is not None and job.gpu_share < 1 and torch.cuda.is_available():
        # trials sharing a GPU: one that outgrows its share fails itself, not the trial beside it
        torch.cuda.set_per_process_memory_fraction(job.gpu_share)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    transformers.set_seed(job.spec.study.seed)
    warnings.filterwarnings("ignore", category=FutureWarning)  # the libraries' deprecation notes: not the user's


def run(job: TrialJob, channel: Channel) -> TrialResult:
    """Train one trial and return what the study records of it."""
    if job.spec.decode_only:
        return decode(job, channel)
    if TASKS[job.spec.task.type].custom:
        return run_custom(job, channel)
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
    result = TrialResult(
        state="pruned" if monitor.stop == "pruned" else "complete",
        value=monitor.best_metrics.get(job.spec.metric, monitor.best),
        best_step=monitor.best_step,
        stop_reason=monitor.stop or "completed",
        stop_step=steps,
        planned_steps=trainer.state.max_steps,
        history=monitor.history,
        history_seconds=monitor.seconds,
        best_metrics=monitor.best_metrics,
        train_seconds=round(seconds, 3),
        setup_seconds=round(started - begun, 3),
        samples_per_second=round(steps * effective_batch / seconds, 2) if seconds else None,
        effective_batch_size=effective_batch,
        peak_memory_mb=_peak_memory_mb(),
        peak_gpu_memory_mb=peak_gpu_memory_mb(),
        n_parameters=sum(p.numel() for p in setup.model.parameters()),
        n_trainable_parameters=sum(p.numel() for p in setup.model.parameters() if p.requires_grad),
        device=str(args.device),
        threads=torch.get_num_threads(),
        gpu=job.gpu,
        versions=versions(),
        notes=setup.notes,
    )
    # 6. keep the model of the trial's best evaluation, when the study wants it (a LoRA trial: its adapter)
    if job.save_dir is not None and result.state == "complete" and monitor.best_state is not None:
        if channel.ask(KEEP, result.value) is True:
            setup.model.load_state_dict(monitor.best_state, strict=False)
            setup.model.save_pretrained(job.save_dir)
            setup.tokenizer.save_pretrained(job.save_dir)
            result.model_dir = str(job.save_dir)
    return result


def decode(job: TrialJob, channel: Channel) -> TrialResult:
    """A decoding-only trial: generate for each evaluation prompt and score it; nothing is trained.

    Each prompt's score is reported as a step, so a pruner (Wilcoxon's, made for this) can stop a trial
    whose scores fall behind the best trial's on the same prompts.
    """
    begun = time.perf_counter()
    _set_up_process(job)
    # nothing trains: the task's model and scorer on the trial's device, and no Trainer (a tenth of a second);
    # built once for every trial by the fork server where it could be (hpsearch.train.shared)
    setup = shared.take(job)
    shared_setup = setup is not None
    if setup is None:
        setup = importlib.import_module(TASKS[job.spec.task.type].module).setup(job, job.config)
    scorer, model = setup.scorer, setup.model.to("cuda" if torch.cuda.is_available() else "cpu")
    history: list[list[float]] = []

    def report(index: int, value: float) -> bool:
        history.append([index, value])
        channel.progress(index + 1, len(scorer.prompts))
        return channel.report(index, value)

    started = time.perf_counter()
    metrics, pruned = scorer.score(model, report)
    seconds = time.perf_counter() - started
    return TrialResult(
        state="pruned" if pruned else "complete",
        value=metrics.get(job.spec.metric),
        best_step=len(history) - 1,
        stop_reason="pruned" if pruned else "completed",
        stop_step=len(history),
        history=history,
        best_metrics=metrics,
        setup_seconds=round(started - begun, 3),
        setup_shared=shared_setup,
        train_seconds=0.0,
        decode_seconds=round(seconds, 3),
        samples_per_second=round(len(history) * scorer.num_samples / seconds, 2) if seconds else None,
        peak_memory_mb=_peak_memory_mb(),
        n_parameters=sum(p.numel() for p in model.parameters()),
        device=str(model.device),
        threads=torch.get_num_threads(),
        gpu=job.gpu,
        versions=versions(),
        notes=setup.notes,
    )


def run_custom(job: TrialJob, channel: Channel) -> TrialResult:
    """A custom task: the user's training function (hpsearch.train.tasks.custom) reports through this channel; each
    report begins a step (hpsearch.trial.at_step)."""
    _set_up_process(job)
    # a training loop may start processes of its own (a DataLoader's workers), which a daemon process may not; the
    # trial still dies with the study (the parent-death signal), and its children with it (they watch their parent)
    multiprocessing.current_process().daemon = False

    def ask(step: int, value: float) -> bool:
        at_step(step)
        return channel.report(step, value)

    result = custom.run(job, ask, keep=lambda value: channel.ask(KEEP, value) is True)
    result.peak_memory_mb, result.threads, result.gpu = _peak_memory_mb(), torch.get_num_threads(), job.gpu
    result.versions = versions()
    return result
