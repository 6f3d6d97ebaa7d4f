"""The worker protocol: what the study process and a worker process say to each other, and how the study
process starts, hears and stops a worker.

A worker process gets one TrialJob (at its start, or over the pipe when it was forked ahead as a warm
worker: see `waiting`) and speaks over a pipe in the tagged messages of hpsearch.trial, the boundary both sides
import; `serve` answers them here.

Workers fork from a fork server that has the training libraries loaded once (see hpsearch.run.preload),
so the study process itself never imports torch, and a crash takes down only the trial's own process. A target
that needs none of them (the tests' zero-cost trial: hpsearch.run.targets) forks from the study process instead.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpsearch.trial import CONTINUE, DIED, DONE, ERROR, KEEP, PROGRESS, PRUNE, REPORT, TrialResult

# What the fork server imports once, for every worker it forks. Never "__main__": that would run the script
# that started the study (a user's `tune.py` calling hpsearch.run) in the fork server. MAIN_ENV tells the
# fork server which script that is, so it stands in for it and no worker re-runs it either (see
# hpsearch.run.preload).
PRELOAD = ["hpsearch.run.preload"]
MAIN_ENV = "HPSEARCH_MAIN"


@dataclass
class Ended:
    """How a worker ended: its result, or why it failed (with its traceback when it sent one)."""

    result: TrialResult | None = None
    error: str | None = None
    traceback: str | None = None


@dataclass
class Worker:
    """The study process's handle on one worker process."""

    process: Any
    conn: Any


_context = None


def context():
    """The fork-server context, with the training libraries preloaded once per study process."""
    global _context
    if _context is None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        _context = multiprocessing.get_context(method)
        if method == "forkserver":
            _context.set_forkserver_preload(PRELOAD)
            os.environ[MAIN_ENV] = json.dumps(main_module())
    return _context


def main_module() -> dict[str, str]:
    """How multiprocessing names this process's `__main__` to each worker it starts (its file, or its module
    name for `python -m`), which the worker runs again unless its own `__main__` already has that name."""
    sent = multiprocessing.spawn.get_preparation_data("hpsearch")
    return {key: sent[key] for key in ("init_main_from_path", "init_main_from_name") if key in sent}


def spawn(target: Callable, payload: Any, name: str, preloaded: bool = True) -> Worker:
    """Start `target(conn, payload)` in a worker process (a daemon: it dies with the study process), in a session
    of its own: the processes a trial starts are stopped with it (`stop`), never the study process. Forked from the
    fork server, or with `preloaded=False` from this process (milliseconds, for a target that needs no library)."""
    method = context() if preloaded else multiprocessing.get_context("fork")
    parent, child = method.Pipe()
    # a child forked from here holds this end too: it closes it, so it reads the end of the pipe once we close ours
    closing = () if preloaded else (parent,)
    process = method.Process(target=in_own_session, args=(target, child, payload, *closing), daemon=True, name=name)
    process.start()
    child.close()
    return Worker(process, parent)


def in_own_session(target: Callable, conn, payload: Any, *inherited) -> None:
    """A worker's first act: lead a session (and process group) of its own, then run `target(conn, payload)`.

    Its process group is then the trial's and the processes the trial starts (a DataLoader's workers, the
    user's own commands); a Ctrl-C typed at the terminal reaches the study process alone, which decides.
    """
    os.setsid()
    for end in inherited:  # the study's end of this pipe, held by a worker forked from the study process
        end.close()
    target(conn, payload)


def waiting(conn, target: Callable) -> None:
    """A warm worker: forked before its trial is known, it waits for the TrialJob, then runs `target(conn, job)`.
    The study process forks the next trial's worker while the current one runs, so a trial's process is
    already up when the trial is asked for."""
    try:
        job = conn.recv()
    except (EOFError, OSError):  # the study ended, or died, with no trial for it
        os._exit(0)
    target(conn, job)


def start(worker: Worker | None, target: Callable, job: Any, name: str, preloaded: bool = True) -> Worker:
    """Hand `job` to the warm `worker` (forked by `spawn(waiting, target, ...)`), or to a new worker when there
    is none or it is gone."""
    if worker is not None:
        try:
            worker.conn.send(job)
            return worker
        except (BrokenPipeError, OSError):  # it died waiting: start the trial the slow way
            close(worker)
    return spawn(target, job, name, preloaded)


def receive(conn, process, timeout: float = 0.0) -> tuple | None:
    """A worker's next message: None while it lives and has said nothing (within `timeout` seconds), and
    (DIED, reason) once it is dead and everything it sent has been read."""
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
    return (DIED, death_reason(process))


def serve(worker: Worker, report: Callable[[int, float], bool], keep: Callable[[float], bool],
          progress: Callable[[int, int], None] | None = None, timeout: float = 0.0) -> Ended | None:
    """Answer every message `worker` has sent (`report` says whether to prune, `keep` whether to keep the
    model); how it ended once it has, else None when it has nothing more to say within `timeout`."""
    while True:
        message = receive(worker.conn, worker.process, timeout)
        if message is None:
            return None
        tag = message[0]
        if tag == REPORT:
            worker.conn.send(PRUNE if report(message[1], message[2]) else CONTINUE)
        elif tag == PROGRESS:
            if progress is not None:
                progress(message[1], message[2])
        elif tag == KEEP:
            worker.conn.send(keep(message[1]))
        elif tag == DONE:
            return Ended(result=message[1])
        elif tag == ERROR:
            return Ended(error=message[1], traceback=message[2] if len(message) > 2 else None)
        elif tag == DIED:
            return Ended(error=message[1])


def wait(workers: list[Worker], timeout: float) -> None:
    """Sleep until any of `workers` speaks or dies, or `timeout` seconds pass."""
    handles = [w.conn for w in workers] + [w.process.sentinel for w in workers]
    multiprocessing.connection.wait(handles, timeout=timeout)


def stop(process) -> None:
    """Kill a worker process that still runs, with every process its trial started (its process group)."""
    if process.is_alive():
        kill_group(process.pid)
        process.kill()
        process.join(timeout=10)


def kill_group(pid: int) -> None:
    """SIGKILL the process group that worker `pid` leads (see `in_own_session`); nothing when it leads none
    (it has not yet made its own), so the group of the study process is never the one killed."""
    try:
        if os.getpgid(pid) == pid != os.getpgrp():
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # gone already, or not ours: nothing of the trial to stop
        pass


def close(worker: Worker) -> None:
    """Done with a worker: close the pipe, let it exit (it has sent its last word), kill it if it lingers."""
    worker.conn.close()
    worker.process.join(timeout=30)
    stop(worker.process)


class Exiting:
    """Workers that have said their last word, left to exit on their own while the study goes on.

    A worker's exit takes 10-20 ms here (the kernel unmaps the fork server's memory the worker shared with
    it, then the fork server reports the exit), a wait that no trial should queue behind. `reap` collects
    those that have exited and kills any still there after LINGER_S; `join` waits for the rest at the end.
    """

    LINGER_S = 30.0

    def __init__(self):
        self.processes: list[tuple[Any, float]] = []  # (process, the time it is killed if still there)

    def add(self, worker: Worker) -> None:
        worker.conn.close()
        self.processes.append((worker.process, time.monotonic() + self.LINGER_S))

    def reap(self) -> None:
        """Forget those that have exited; kill those past their time (never blocks on a live one)."""
        now, left = time.monotonic(), []
        for process, deadline in self.processes:
            if process.is_alive():
                if now < deadline:
                    left.append((process, deadline))
                else:
                    stop(process)
        self.processes = left

    def join(self) -> None:
        """Wait for every one to exit (each up to its time), kill what lingers."""
        for process, deadline in self.processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            stop(process)
        self.processes = []


def death_reason(process) -> str:
    """Why a worker process ended without a result, from its exit code."""
    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the trial's process was killed by {name}{hint}"
    return f"the trial's process exited with code {code} before reporting a result"
