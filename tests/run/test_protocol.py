"""The worker protocol: the study process reading a worker's messages, noticing its death, answering it."""

import multiprocessing
import os
import signal
import sys
import time

from helpers import ExitsWhenLookedAt
from hpsearch.run.protocol import DONE, Ended, Exiting, Worker, close, receive, serve, spawn, start, stop, waiting


def test_a_result_sent_just_before_the_worker_exits_is_read_then_its_death():
    parent, child = multiprocessing.Pipe()
    worker = ExitsWhenLookedAt(child, ("done", {"state": "complete"}))
    assert receive(parent, worker) == ("done", {"state": "complete"})
    assert receive(parent, worker) == ("died", "the trial's process exited with code 0 before reporting a result")


def test_a_worker_that_lives_and_says_nothing_gives_none():
    parent, child = multiprocessing.Pipe()

    class Alive:
        def is_alive(self):
            return True

    assert receive(parent, Alive(), timeout=0.05) is None
    child.send(("report", 5, 0.5))
    assert receive(parent, Alive()) == ("report", 5, 0.5)


def _silent(conn):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_is_reported_dead_with_its_signal():
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_silent, args=(child,))
    process.start()
    child.close()
    message = None
    while message is None:
        message = receive(parent, process, timeout=1.0)
    assert message == ("died", "the trial's process was killed by SIGKILL (out of memory?)")


def test_a_result_sent_just_before_the_worker_exits_is_served_not_taken_for_a_crash():
    parent, child = multiprocessing.Pipe()
    worker = ExitsWhenLookedAt(child, (DONE, {"state": "complete"}))
    ended = serve(Worker(worker, parent), report=lambda step, value: False, keep=lambda value: False)
    assert ended == Ended(result={"state": "complete"})


def test_reports_get_the_answer_and_the_end_comes_with_its_traceback():
    parent, child = multiprocessing.Pipe()

    class Alive:
        def is_alive(self):
            return True

    child.send(("report", 5, 0.5))
    child.send(("keep?", 0.5))
    child.send(("progress", 6, 10))
    seen = []
    assert serve(Worker(Alive(), parent), report=lambda step, value: step == 5, keep=lambda value: True,
                 progress=lambda step, total: seen.append((step, total))) is None
    assert child.recv() == "prune" and child.recv() is True and seen == [(6, 10)]
    child.send(("error", "ValueError: bad", "Traceback ..."))
    assert serve(Worker(Alive(), parent), report=None, keep=None) == Ended(error="ValueError: bad",
                                                                          traceback="Traceback ...")


def _echo(conn, job):
    """A worker's target: sends back its job, its pid, and whether its process started with the spec's modules."""
    conn.send((DONE, {"job": job, "pid": os.getpid(), "spec_preloaded": "hpsearch.spec.space" in sys.modules}))
    conn.close()
    os._exit(0)


def _ended(worker):
    ended = None
    while ended is None:
        ended = serve(worker, report=lambda step, value: False, keep=lambda value: False, timeout=5.0)
    return ended


def test_a_warm_worker_waits_for_its_job_and_runs_it_in_its_own_process():
    spare = spawn(waiting, _echo, name="warm")
    worker = start(spare, _echo, {"number": 3}, name="trial-3")
    ended = _ended(worker)
    close(worker)
    assert worker is spare and ended.result["job"] == {"number": 3}
    assert ended.result["pid"] == spare.process.pid != os.getpid()
    # the fork server imported the spec's modules once: a trial's process does not unpickle its spec cold
    assert ended.result["spec_preloaded"]


def test_a_warm_worker_that_died_is_replaced_by_a_fresh_one():
    spare = spawn(waiting, _echo, name="warm")
    stop(spare.process)
    worker = start(spare, _echo, {"number": 4}, name="trial-4")
    ended = _ended(worker)
    close(worker)
    assert worker is not spare and ended.result["job"] == {"number": 4}


def test_a_warm_worker_left_without_a_trial_exits_when_its_pipe_closes():
    spare = spawn(waiting, _echo, name="warm")
    close(spare)
    assert spare.process.exitcode == 0


def _lingers(conn, job):
    """A worker's target that says its last word, then does not exit."""
    conn.send((DONE, {"job": job}))
    time.sleep(60)


def test_ended_workers_exit_on_their_own_and_are_reaped_without_a_wait():
    exiting = Exiting()
    worker = start(spawn(waiting, _echo, name="warm"), _echo, {"number": 5}, name="trial-5")
    _ended(worker)
    started = time.monotonic()
    exiting.add(worker)
    exiting.reap()
    assert time.monotonic() - started < 0.5  # never waits for the exit
    deadline = time.monotonic() + 10
    while exiting.processes and time.monotonic() < deadline:
        time.sleep(0.01)
        exiting.reap()
    assert exiting.processes == [] and worker.process.exitcode == 0


def test_a_worker_that_lingers_past_its_time_is_killed():
    exiting = Exiting()
    exiting.LINGER_S = 0.2
    worker = start(spawn(waiting, _lingers, name="warm"), _lingers, {"number": 6}, name="trial-6")
    _ended(worker)
    exiting.add(worker)
    exiting.reap()
    assert worker.process.is_alive() and len(exiting.processes) == 1
    time.sleep(0.3)
    exiting.reap()
    assert exiting.processes == [] and worker.process.exitcode == -signal.SIGKILL


def test_join_waits_for_every_ended_worker():
    exiting = Exiting()
    workers = [start(spawn(waiting, _echo, name="warm"), _echo, {"number": n}, name=f"trial-{n}") for n in (7, 8)]
    for worker in workers:
        _ended(worker)
        exiting.add(worker)
    exiting.join()
    assert exiting.processes == [] and [w.process.exitcode for w in workers] == [0, 0]
