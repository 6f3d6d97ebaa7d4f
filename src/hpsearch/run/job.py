"""A trial's job as the worker process receives it; light, so the study process never imports torch."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrialJob:
    """What a worker process needs to run one trial (pickled across the process boundary)."""

    spec: Any  # StudySpec
    number: int
    config: dict[str, Any]
    cache_dir: Path | None
    save_dir: Path | None
    threads: int | None = None
    gpu: str | None = None  # the CUDA device this trial may see, or None on a CPU-only machine
    fault: Any = None  # a planned hpsearch.run.faults.Fault, for chaos tests only


def entry(conn, job: TrialJob) -> None:
    """Worker process entry point; the fork server has already imported the worker and its libraries."""
    import os
    import sys

    from hpsearch.run.worker import main

    main(conn, job)
    # Skip the interpreter's teardown of torch and friends: the result is sent, nothing is left to flush.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def check_entry(conn, spec: Any) -> None:
    """Process entry point: the space's problems against its model's config (transformers stays out of the
    study process)."""
    import os

    from hpsearch.train.tasks.base import check_model

    try:
        conn.send(("done", check_model(spec)))
    except BaseException as exc:  # noqa: BLE001 - the study process reports it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    conn.close()
    os._exit(0)


def receive(conn, process, timeout: float = 0.0) -> tuple | None:
    """A worker's next message: None while it lives and has said nothing (within `timeout` seconds), and
    ("died", reason) once it is dead and everything it sent has been read."""
    # Looked at before reading: whatever a dead worker sent is in the pipe by then, so its result is read.
    # (Looking after reading misses a result sent between the read and the worker's exit: a finished trial
    # taken for a crash.)
    dead = not process.is_alive()
    try:
        if conn.poll(0 if dead else timeout):
            return conn.recv()
    except (EOFError, OSError):
        pass  # its end is closed: it is dead, or about to be, which the next look tells
    if not dead:
        return None
    process.join(timeout=5)
    return ("died", death_reason(process))


def death_reason(process) -> str:
    """Why a worker process ended without a result, from its exit code."""
    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the trial's process was killed by {name}{hint}"
    return f"the trial's process exited with code {code} before reporting a result"
