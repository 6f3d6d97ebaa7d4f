"""Fault injection for chaos tests: make chosen trials crash in chosen ways, on purpose.

Set `HPSEARCH_FAULTS` before `hpsearch run`, as comma-separated `TRIAL:KIND@STEP` items, for example
`HPSEARCH_FAULTS="1:segfault@3,4:nan@2"`: trial 1's process segfaults at training step 3, trial 4's
loss turns NaN at step 2. hpsearch's own reliability tests use it; you can use it to check that your
setup survives the same. Unset (the normal case), it costs nothing.

Kinds: `raise` (an exception in the model), `memory` (MemoryError), `segfault` (SIGSEGV), `kill`
(SIGKILL, as the out-of-memory killer does), `nan` (a NaN loss), `hang` (never returns; for
`trial_timeout`), `exit` (the process exits without a word), `oom` (torch.cuda.OutOfMemoryError, as a
GPU that is out of memory raises; no GPU needed).
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass

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


def for_trial(number: int) -> Fault | None:
    """The fault $HPSEARCH_FAULTS plans for trial `number`, if any (read by the study process at launch)."""
    return next((f for f in parse(os.environ.get(ENV)) if f.trial == number), None)


def strike(fault: Fault) -> None:
    """Do what the fault says, now (all kinds but `nan`, which the loss check itself handles)."""
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
