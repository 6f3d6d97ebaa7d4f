"""One trial's worker run to its end outside a study loop: a confirmation run (`confirm`), a calibration
(`run --dry-run --calibrate`). Nothing prunes it and it keeps no model; the caller reads how it ended."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpsearch.run import protocol


def run_to_end(target: Callable, job: Any, name: str) -> protocol.Ended:
    """Start a worker process running `target` on `job`, answer it until it ends (never pruned, no model kept),
    close it, and return how it ended (its result, or its error)."""
    worker = protocol.spawn(target, job, name=name)
    try:
        ended = None
        while ended is None:
            protocol.wait([worker], timeout=1.0)
            ended = protocol.serve(worker, report=lambda step, value: False, keep=lambda value: False)
    finally:
        protocol.close(worker)
    return ended
