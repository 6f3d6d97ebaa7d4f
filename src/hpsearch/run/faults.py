"""Fault injection for chaos tests: make chosen trials crash in chosen ways, on purpose.

Set `HPSEARCH_FAULTS` before `hpsearch run`, as comma-separated `TRIAL:KIND@STEP` items, for example
`HPSEARCH_FAULTS="1:segfault@3,4:nan@2"`: trial 1's process segfaults at training step 3, trial 4's
loss turns NaN at step 2. hpsearch's own reliability tests use it; you can use it to check that your
setup survives the same. Unset (the normal case), it costs nothing.

Kinds: `raise` (an exception in the model), `memory` (MemoryError), `segfault` (SIGSEGV), `kill`
(SIGKILL, as the out-of-memory killer does), `nan` (a NaN loss), `hang` (never returns; for
`trial_timeout`), `exit` (the process exits without a word), `oom` (torch.cuda.OutOfMemoryError, as a
GPU that is out of memory raises; no GPU needed).

The faults wrap the study's trial target (`wrapped`, applied where targets are chosen: hpsearch.run.targets): in
the trial's process, before the real target runs, the planned fault becomes a step hook (hpsearch.trial.step_hooks)
that the Trainer calls as each training step begins and a custom task at each report. No other module knows of them.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hpsearch import trial as boundary
from hpsearch.errors import StudyError

ENV = "HPSEARCH_FAULTS"
KINDS = ("raise", "memory", "segfault", "kill", "nan", "hang", "exit", "oom")
_ITEM = re.compile(r"^\s*(\d+)\s*:\s*([a-z]+)\s*@\s*(\d+)\s*$")


@dataclass(frozen=True)
class Fault:
    trial: int
    kind: str
    step: int


def parse(text: str | None) -> list[Fault]:
    """The faults `text` asks for; a malformed item is an error, not a silent no-op."""
    faults = []
    for item in filter(str.strip, (text or "").split(",")):
        match = _ITEM.match(item)
        if not match or match.group(2) not in KINDS:
            raise ValueError(f"{ENV}: {item!r} is not TRIAL:KIND@STEP with KIND one of {', '.join(KINDS)}")
        faults.append(Fault(int(match.group(1)), match.group(2), int(match.group(3))))
    return faults


def wrapped(target: Any) -> Any:
    """`target` (a hpsearch.run.targets.Target) with the faults $HPSEARCH_FAULTS plans, or `target` itself when it
    plans none; a malformed plan is a StudyError."""
    try:
        plan = parse(os.environ.get(ENV))
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    return replace(target, main=functools.partial(run_with, plan, target.main)) if plan else target


def run_with(plan: list[Fault], main: Callable, conn, job: Any) -> None:
    """In the trial's process: arm the fault `plan` holds for this trial, then run the real target's `main`."""
    fault = next((f for f in plan if f.trial == job.number), None)
    if fault is not None:
        boundary.step_hooks.append(functools.partial(at_step, fault))
    main(conn, job)


def at_step(fault: Fault, step: int, model: Any) -> None:
    """The step hook: from the fault's step on, strike; `nan` turns a Trainer's model NaN (the loss check then
    stops the trial as for a real NaN loss), and a custom task's metric."""
    if step < fault.step:
        return
    if fault.kind != "nan":
        strike(fault)
    elif model is None:
        raise FloatingPointError(f"the metric is nan at step {step} (injected)")
    else:
        import torch  # only a trial's process strikes, and it has torch loaded already

        with torch.no_grad():
            for parameter in model.parameters():
                parameter.fill_(float("nan"))


def strike(fault: Fault) -> None:
    """Do what the fault says, now (all kinds but `nan`: see `at_step`)."""
    if fault.kind == "raise":
        raise RuntimeError(f"injected fault in the model at step {fault.step}")
    if fault.kind == "memory":
        raise MemoryError(f"injected out-of-memory at step {fault.step}")
    if fault.kind == "oom":
        import torch  # only a trial's process strikes, and it has torch loaded already

        raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                                          f"capacity of 8.00 GiB of which 1.00 GiB is free. (injected at step "
                                          f"{fault.step})")
    if fault.kind == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault.kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault.kind == "exit":
        os._exit(7)
    if fault.kind == "hang":
        while True:
            time.sleep(3600)
