"""A trial's process: the functions it starts in (multiprocessing's `target`), how it watches for the study
process, and how it exits.

They live apart from the code they run so that the study process can name them without importing it:
the fork server has already imported the worker and the training libraries, the study process never does.
hpsearch.run.targets says which of them runs a study's trials.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hpsearch.trial import Channel, TrialJob

ORPHAN_CHECK_S = 1.0  # how often a trial's process looks whether the study process is still there


def train_trial(conn, job: TrialJob) -> None:
    """A trial's process: train it, send its result (see hpsearch.train.worker.main), exit."""
    from hpsearch.train.worker import main

    _exit_when_orphaned(conn)
    main(conn, job)
    # Skip the interpreter's teardown of torch and friends: the result is sent, nothing is left to flush.
    sys.stdout.flush()
    sys.stderr.flush()
    _exit(0)


def _exit(code: int) -> None:
    """End this trial's process, and the processes it started if any still run (a pruned or finished trial's
    own commands, a DataLoader's workers): the whole process group it leads (hpsearch.run.protocol.spawn)."""
    if _has_children() and os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGKILL)  # this process too: it has nothing left to do
    os._exit(code)


def _has_children() -> bool:
    """Whether this process has a child (any thread's), as Linux's /proc tells (False where it has no /proc)."""
    try:
        return any(path.read_text().strip() for path in Path("/proc/self/task").glob("*/children"))
    except OSError:
        return True


def _exit_when_orphaned(conn, every_s: float = ORPHAN_CHECK_S) -> None:
    """End this trial's process soon after the study process dies (kill -9, a vanished session).

    Without this a trial trains on, holding its CPU threads or its GPU memory beside the next run's trials,
    until its next report finds the pipe closed: minutes later for a slow evaluation interval. Neither its
    parent (the fork server, kept alive by the trials it forked) nor a signal tells it; the study process's
    end of the pipe does: a dead process's sockets are closed by the kernel, so a peek at the pipe reads its
    end. Looked at from a thread every `every_s` seconds, without taking any message from the main thread.
    """
    try:
        watched = socket.socket(fileno=os.dup(conn.fileno()))  # a socket pair on Linux and macOS
    except OSError:  # not a socket (another platform's pipe): the next report is when it finds out
        return

    def watch() -> None:
        while True:
            time.sleep(every_s)
            try:
                if watched.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    _exit(3)
            except BlockingIOError:  # nothing to read: the study process is there
                continue
            except OSError:  # the connection was reset: it is gone
                _exit(3)

    threading.Thread(target=watch, name="hpsearch-orphan-watch", daemon=True).start()


def check_model_config(conn, spec: Any) -> None:
    """The space's problems against its model's config, sent as DONE (transformers stays out of the study
    process)."""
    from hpsearch.train.tasks.base import check_model

    _answer(conn, check_model, spec)


def check_custom_entry(conn, spec: Any) -> None:
    """A custom task's problems with its training function (it imports, takes (config, reporter)), sent as DONE:
    the user's module is imported here, never in the study process."""
    from hpsearch.train.tasks.custom import check_entry

    _answer(conn, check_entry, spec)


def _answer(conn, check, spec: Any) -> None:
    channel = Channel(conn)
    try:
        channel.done(check(spec))
    except BaseException as exc:  # noqa: BLE001 - the study process reports it
        channel.error(f"{type(exc).__name__}: {exc}")
    conn.close()
    os._exit(0)
