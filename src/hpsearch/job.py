"""A trial's job as the worker process receives it; light, so the study process never imports torch."""

from __future__ import annotations

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
    fault: Any = None  # a planned hpsearch.faults.Fault, for chaos tests only


def entry(conn, job: TrialJob) -> None:
    """Worker process entry point; the fork server has already imported the worker and its libraries."""
    import os
    import sys

    from hpsearch.worker import main

    main(conn, job)
    # Skip the interpreter's teardown of torch and friends: the result is sent, nothing is left to flush.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def check_entry(conn, spec: Any) -> None:
    """Process entry point: the space's problems against its model's config (transformers stays out of the
    study process)."""
    import os

    from hpsearch.tasks.base import check_model

    try:
        conn.send(("done", check_model(spec)))
    except BaseException as exc:  # noqa: BLE001 - the study process reports it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    conn.close()
    os._exit(0)
