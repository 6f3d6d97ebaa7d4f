"""A custom task: the user's own training function, run in the trial's worker process like any built-in trial.

The function is `task.entry` ("my_pkg.train:main", or "train.py:main" beside the space file) and is called as

    def main(config: dict, reporter) -> dict | None

`config` holds the trial's values (sampled and fixed) as a plain dict. `reporter.report(step, metrics)` hands
the study an evaluation and returns True when the trial must stop now (pruned, or no better for
`early_stopping_patience` reports); `reporter.save_dir` is the folder whose contents hpsearch keeps as the
trial's model when the study keeps it (`study.save`). A returned metrics dict is recorded beside the best
evaluation's metrics (a test score, n_parameters); holding the study's metric, it is one more evaluation too.
The trial's value is the best reported value of the study's metric, as for the built-in tasks.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import numbers
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpsearch.errors import Problem, TrialSetupError
from hpsearch.spec.custom import parse_entry
from hpsearch.trial import TrialJob, TrialResult

SIGNATURE = "(config, reporter)"
# Optuna stores a step in a 32-bit integer column (PostgreSQL's integer; SQLite holds 64 bits, and refuses more),
# and refuses negative steps: a step beyond these would fail the study process's write, not the trial
MAX_STEP = 2**31 - 1


class Reporter:
    """What the training function reports through: each evaluation goes to the study, which answers whether
    to stop; it also keeps what the trial records (its curve, its best evaluation)."""

    def __init__(self, metric: str, maximize: bool, ask: Callable[[int, float], bool], patience: int | None = None,
                 save_dir: Path | None = None, trial: int = 0, seed: int = 0, device: str = "cpu"):
        self.metric, self.maximize, self.patience = metric, maximize, patience
        self.save_dir, self.trial, self.seed, self.device = save_dir, trial, seed, device
        self._ask = ask
        self.history: list[list[float]] = []
        self.seconds: list[float] = []
        self.started = time.perf_counter()
        self.best: float | None = None
        self.best_step = 0
        self.best_metrics: dict[str, float] = {}
        self.seen: set[str] = set()  # every metric name reported, for the message when the watched one never was
        self.last_step: int | None = None
        self.flat = 0
        self.stop: str | None = None  # pruned or stopped_early, once the trial must stop

    def report(self, step: int, metrics: dict[str, Any]) -> bool:
        """Record the evaluation `metrics` at `step` (a whole number, above the last one); True: stop training now."""
        step = _step(step)
        if not isinstance(metrics, dict):
            raise TypeError(f"reporter.report: metrics must be a dict such as {{{self.metric!r}: 0.9}}, "
                            f"but got {metrics!r}")
        if self.last_step is not None and step <= self.last_step:
            raise ValueError(f"reporter.report: step {step} must be above the last reported step {self.last_step}")
        self.seen.update(map(str, metrics))
        if self.metric not in metrics or self.stop is not None:
            return self.stop is not None  # other metrics (a training loss): nothing for the pruner to judge
        value = _number(metrics[self.metric], f"{self.metric} at step {step}")
        self.last_step = step
        self.history.append([step, value])
        self.seconds.append(round(time.perf_counter() - self.started, 3))
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best, self.best_step, self.flat = value, step, 0
            self.best_metrics = numbers_of(metrics)
        else:
            self.flat += 1
        if self._ask(step, value):
            self.stop = "pruned"
        elif self.patience and self.flat >= self.patience:
            self.stop = "stopped_early"
        return self.stop is not None

    @property
    def should_stop(self) -> bool:
        """Whether an earlier report said to stop (for loops that look again later)."""
        return self.stop is not None


def real(value: Any) -> float | None:
    """`value` as a float when it is a real number (a Python or numpy number, a 0-d tensor or array, anything
    numbers.Real or with __float__), else None; a bool, whatever its type, is no number here."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        value = value.item()  # a numpy number, a 0-d array or tensor: its Python number (a numpy bool: a bool)
    if isinstance(value, (bool, complex)) or not isinstance(value, numbers.Real) and not hasattr(value, "__float__"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError, RuntimeError):  # a tensor of several numbers, an int beyond floats
        return None


def numbers_of(metrics: dict[Any, Any]) -> dict[str, float]:
    """The metrics that are real numbers, as floats by their names (the others, text say, are left out)."""
    return {str(k): number for k, v in metrics.items() if (number := real(v)) is not None}


def _number(value: Any, what: str) -> float:
    number = real(value)
    if number is None:
        raise TypeError(f"reporter.report: {what} must be a number (an int, a float, a numpy number or a 0-d "
                        f"tensor), but got {_kind(value)}: {value!r}")
    if not math.isfinite(number):
        raise FloatingPointError(f"reporter.report: {what} is {number}; the trial stops (lower the learning rate?)")
    return number


def _step(step: Any) -> int:
    """A reported step as an int: any integral number, a whole float; within what the study's database stores."""
    if getattr(step, "ndim", None) == 0 and callable(getattr(step, "item", None)):
        step = step.item()
    whole = isinstance(step, numbers.Integral) or isinstance(step, float) and step.is_integer()
    if isinstance(step, bool) or not whole:
        raise TypeError(f"reporter.report: step must be a whole number from 0 to {MAX_STEP}, but got "
                        f"{_kind(step)}: {step!r}")
    if not 0 <= int(step) <= MAX_STEP:
        raise ValueError(f"reporter.report: step {int(step)} is out of range: a step is a whole number from 0 to "
                         f"{MAX_STEP} (the study's database stores it as a 32-bit integer)")
    return int(step)


def _kind(value: Any) -> str:
    """The type a refused value is named by: a numpy bool's item is a bool, as the user wrote it."""
    return type(value.item() if getattr(value, "ndim", None) == 0 and hasattr(value, "item") else value).__name__


def load_entry(entry: str, base_dir: str) -> Callable:
    """The function `entry` names, imported (a module from the space file's folder too); TrialSetupError saying
    why when it cannot be imported, is missing, is not callable or cannot take (config, reporter)."""
    form, target, name = parse_entry(entry)
    try:
        module = _import_file(Path(base_dir), target) if form == "file" else _import_module(Path(base_dir), target)
    except TrialSetupError:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's module may raise anything while it loads
        raise TrialSetupError(f"cannot import {target}: {_where(exc)}") from exc
    function = getattr(module, name, None)
    if function is None:
        raise TrialSetupError(f"{target} has no function {name}")
    if not callable(function):
        raise TrialSetupError(f"{target}.{name} is a {type(function).__name__}, not a function")
    if inspect.isgeneratorfunction(function) or inspect.iscoroutinefunction(function):
        raise TrialSetupError(f"{name} must be a plain function that trains and returns, def {name}{SIGNATURE}")
    try:
        inspect.signature(function).bind({}, object())
    except TypeError:
        raise TrialSetupError(f"{name}{inspect.signature(function)} cannot be called as {name}{SIGNATURE}: "
                              f"give it the signature def {name}(config, reporter)") from None
    except ValueError:  # no signature to read (a builtin): calling it will tell
        pass
    return function


def _import_file(base_dir: Path, target: str):
    path = Path(target).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise TrialSetupError(f"no such file {path} (a relative path is read from the space file's folder)")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so that the file imports its neighbours as it would when run itself
    name = f"hpsearch_entry_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    spec.loader.exec_module(module)
    return module


def _import_module(base_dir: Path, target: str):
    folder = str(base_dir.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)  # a package beside the space file imports without being installed
    return importlib.import_module(target)


def _where(exc: BaseException) -> str:
    """The error and the line of the user's code it came from."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename]
    place = f" ({user[-1].filename}, line {user[-1].lineno})" if user else ""
    return f"{type(exc).__name__}: {exc}{place}"


def check_entry(spec: Any) -> list[Problem]:
    """A custom spec's entry, imported and checked here (a worker process: the user's module may import torch
    or fail): one problem at task.entry's line, or none."""
    try:
        load_entry(spec.task.entry, spec.base_dir)
    except TrialSetupError as exc:
        return [spec.problem(("task", "entry"), str(exc))]
    return []


def run(job: TrialJob, ask: Callable[[int, float], bool], keep: Callable[[float], bool]) -> TrialResult:
    """Call the training function of `job` (a TrialJob) and return what the study records of the trial.

    `ask(step, value)`: the study's answer to an evaluation (True: prune); `keep(value)`: may the trial keep its
    model. A function that never reports the study's metric fails the trial, saying what it did report.
    """
    import torch  # the worker has it loaded already

    function = load_entry(job.spec.task.entry, job.spec.base_dir)
    patience = job.config.get("early_stopping_patience")
    with tempfile.TemporaryDirectory(prefix=f"hpsearch-trial{job.number}-") as scratch:
        # absolute: the function may change folder (as Hydra does) before it writes there
        folder = Path(job.save_dir).absolute() if job.save_dir is not None else Path(scratch) / "model"
        folder.mkdir(parents=True, exist_ok=True)
        reporter = Reporter(job.spec.metric, job.spec.direction == "maximize", ask, int(patience) if patience else None,
                            folder, job.number, job.spec.study.seed, "cuda" if torch.cuda.is_available() else "cpu")
        result: TrialResult | None = None
        try:
            result = _call(function, dict(job.config), reporter)
            saved = job.save_dir is not None and any(folder.iterdir())
            if saved and result.state == "complete" and keep(result.value):
                result.model_dir = str(folder)
        finally:
            if job.save_dir is not None and (result is None or result.model_dir is None):
                shutil.rmtree(folder, ignore_errors=True)  # a model the study does not keep, or a failed trial's
    return result


def _call(function: Callable, config: dict[str, Any], reporter: Reporter) -> TrialResult:
    started = time.perf_counter()
    returned = function(config, reporter)
    seconds = time.perf_counter() - started
    if returned is not None and not isinstance(returned, dict):
        raise TypeError(f"the training function returned {type(returned).__name__}; return None or a dict of "
                        "metrics")
    final = numbers_of(returned or {})
    if reporter.metric in final and reporter.stop is None:  # one more evaluation, after the last report
        reporter.report(0 if reporter.last_step is None else reporter.last_step + 1, returned)
    reporter.seen.update(final)
    if reporter.best is None:
        said = ", ".join(sorted(reporter.seen)) or "nothing"
        raise ValueError(f"the training function never reported {reporter.metric} (it reported {said}); call "
                         f"reporter.report(step, {{{reporter.metric!r}: value}})")
    last = reporter.history[-1][0]
    return TrialResult(
        state="pruned" if reporter.stop == "pruned" else "complete",
        value=reporter.best_metrics.get(reporter.metric, reporter.best),
        best_step=reporter.best_step,
        stop_reason=reporter.stop or "completed",
        stop_step=int(last),
        history=reporter.history,
        history_seconds=reporter.seconds,
        best_metrics={**final, **reporter.best_metrics},  # the returned values beside the best evaluation's
        train_seconds=round(seconds, 3),
        n_parameters=int(final["n_parameters"]) if "n_parameters" in final else None,
        device=reporter.device,
    )
