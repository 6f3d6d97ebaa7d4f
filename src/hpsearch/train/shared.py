"""What the fork server builds once for every trial of a study, so that each trial's process starts with it.

A decoding-only study's trials differ in their decoding options alone (temperature, top_p, top_k): each
would load the same model and tokenizer from disk and tokenize the same prompts again. So the study process
offers its spec to the fork server as the server starts (`offered`, around the first worker a run starts:
see hpsearch.run.preflight); the fork server builds the task's setup once (`build`, called by
hpsearch.run.preload), and every trial forked from it finds that setup in its memory, shared copy-on-write,
and puts its own decoding options on it (`take`). Generating never writes to the weights, so the pages stay
shared: a trial neither reads the model from disk nor copies it.

The build runs torch on one thread: a process that has run torch's parallel kernels cannot fork safely
(its OpenMP threads do not exist in the child, whose first parallel kernel then waits for them forever);
each trial then sets its own threads. The build never touches CUDA, so each trial still picks its own GPU.
A build that fails leaves nothing behind: each trial builds its own setup, and fails with its own reason if
the problem is real. A trial takes the shared setup only when everything it was built from is the same: the
task, the folder paths are read from, the values that are not decoding options, the seed and the metric,
and the model's and the data's files on disk (their sizes and times).

A fork server already running when a study starts (a second study in one Python process) was built for
another study, or none: its trials build their own setup, as before.
"""

from __future__ import annotations

import base64
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from hpsearch.errors import HpsearchError
from hpsearch.spec import catalog
from hpsearch.spec.tasks import TASKS

ENV = "HPSEARCH_SHARED_SETUP"  # the offered spec, pickled, for the fork server that starts now
MAX_OFFER_BYTES = 96 * 1024  # an environment variable holds at most 128 KiB on Linux; a larger spec is not offered
MAX_MEMORY_SHARE = 0.25  # a model whose files take more of the available memory is loaded by each trial, as before
SETTLE_S = 2.0  # how long the build's own threads may take to end before its setup is given up

_built: tuple[tuple, Any] | None = None  # (what it was built from, the Setup), in the fork server and its children


def shareable(spec) -> bool:
    """Whether every trial of `spec` would build the same setup but for its decoding options."""
    return spec.decode_only and not TASKS[spec.task.type].custom


def _fits(spec) -> bool:
    """Whether the model's files take at most MAX_MEMORY_SHARE of the memory available now: the fork server
    holds its copy for the whole run, and a fork server killed for memory as it starts would stop the study."""
    from hpsearch.train.tasks.base import resolve_model

    try:
        path = Path(resolve_model(spec.fixed.get("model_size"), spec.task.model, spec.base_dir))
        size = sum(f.stat().st_size for f in (path.iterdir() if path.is_dir() else [path]) if f.is_file())
        available = _available_memory()
    except (OSError, ValueError, HpsearchError):  # a Hub id, a missing folder, no /proc: each trial loads its own
        return False
    return size <= MAX_MEMORY_SHARE * available


def _available_memory() -> int:
    """Bytes of memory the kernel can give without swapping (Linux's MemAvailable: free and reclaimable)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no MemAvailable in /proc/meminfo")


@contextmanager
def offered(spec) -> Iterator[None]:
    """Within the block, a fork server that starts builds `spec`'s setup for all its trials."""
    if not shareable(spec) or not _fits(spec):
        yield
        return
    # what building needs, and nothing a password may hide in (the file's text, the storage URL): the fork
    # server's environment can be read in /proc for as long as it lives
    bare = replace(spec, text="", overrides=(), study=spec.study.model_copy(update={"storage": None}), _document=None)
    payload = base64.b64encode(pickle.dumps(bare)).decode("ascii")
    if len(payload) > MAX_OFFER_BYTES:
        yield
        return
    with _environment({ENV: payload}):
        yield


def build() -> None:
    """In the fork server: build the offered spec's setup, if one was offered (the trials never see the offer)."""
    global _built
    payload = os.environ.pop(ENV, None)
    if payload is None:
        return
    import importlib

    import torch
    import transformers

    from hpsearch.trial import TrialJob

    threads, verbosity = torch.get_num_threads(), transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    alone = _threads()
    torch.set_num_threads(1)  # no parallel kernel may run in a process that forks (see above)
    transformers.logging.set_verbosity_error()  # quiet, as each trial is: no loading bar, no notes twice
    transformers.utils.logging.disable_progress_bar()
    try:
        with _environment(BUILD_ENVIRONMENT):
            spec = pickle.loads(base64.b64decode(payload))
            config = dict(spec.fixed)
            before = built_from(spec, config)
            transformers.set_seed(spec.study.seed)  # as each trial would have: any freshly made weight is the same
            setup = importlib.import_module(TASKS[spec.task.type].module).setup(
                TrialJob(spec, -1, config, None, None), config)
            _in_own_memory(setup.model)
            # a file rewritten while it was read: the setup may hold a mix; the trials build their own
            _built = (before, setup) if built_from(spec, config) == before and _settled(alone) else None
    except Exception:  # noqa: BLE001 - each trial then builds its own setup, and says what fails
        _built = None
    finally:
        torch.set_num_threads(threads)
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()


# Set while the fork server builds: no thread pool of the tokenizers, none of transformers' weight loading
# (its threads run torch operations and end after the load returns), and a CUDA check that does not start
# CUDA (a fork server that started it would leave every trial unable to use its GPU).
BUILD_ENVIRONMENT = {"TOKENIZERS_PARALLELISM": "false", "HF_DEACTIVATE_ASYNC_LOAD": "1",
                     "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _threads() -> int:
    """The process's threads, the libraries' native ones included (Linux; 1 where it cannot be seen)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def _settled(alone: int) -> bool:
    """Whether the threads the build started have ended (within SETTLE_S): the fork server forks every trial,
    and a thread alive at a fork may hold a lock its children then wait on for ever."""
    import time

    deadline = time.monotonic() + SETTLE_S
    while _threads() > alone:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _in_own_memory(model) -> None:
    """Copy the weights out of the model file that transformers maps into memory (safetensors), so that what
    every trial shares belongs to the fork server: a model file rewritten or truncated during the run can then
    neither change the weights under the trials nor kill them (SIGBUS) as they read."""
    import torch

    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:  # each tied weight once: its modules share it
            tensor.data = tensor.data.clone()


def take(job) -> Any | None:
    """In a trial's process: the shared setup with this trial's decoding options, or None when there is none
    built from what this trial's would be."""
    if _built is None or not shareable(job.spec):
        return None
    try:
        if built_from(job.spec, job.config) != _built[0]:
            return None
    except Exception:  # noqa: BLE001 - a file gone since: the trial's own setup says what is wrong
        return None
    setup = _built[1]
    scorer = setup.scorer.for_config(job.config)
    return replace(setup, scorer=scorer, notes=list(setup.notes),
                   extra_metrics=scorer.metrics if setup.extra_metrics else None,
                   final_metrics=scorer.metrics if setup.final_metrics else None)


def built_from(spec, config: dict[str, Any]) -> tuple:
    """Everything a decoding-only trial's setup depends on, but its decoding options."""
    from hpsearch.train.data import local_path
    from hpsearch.train.tasks.base import resolve_model

    others = sorted((name, repr(value)) for name, value in config.items()
                    if name not in catalog.CATALOG or not catalog.CATALOG[name].generation_only)
    files = [Path(resolve_model(config.get("model_size"), spec.task.model, spec.base_dir))]
    if spec.task.dataset.path is not None:
        files.append(local_path(spec.task.dataset.path, spec.base_dir))
    return (spec.task.model_dump(), spec.base_dir, spec.study.seed, spec.metric, tuple(others),
            tuple(_stamp(path) for path in files))


def _stamp(path: Path) -> tuple:
    """A file's, or a folder's files', names, inodes, sizes and change times: another whenever one is rewritten
    or replaced (the change time cannot be set back, as a copy that keeps the modification time does)."""
    if not path.exists():  # a Hub id: its files are transformers' cache, not the user's to edit mid-run
        return (str(path),)
    entries = sorted(path.iterdir()) if path.is_dir() else [path]
    return (str(path), *((entry.name, *_identity(entry.stat())) for entry in entries))


def _identity(stat: os.stat_result) -> tuple:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns
