"""The libraries a task's trials import that the fork server does not load for every study (sft: TRL, seconds
to import): named to a fork server as it starts (`offered`, around the first worker a run starts, see
hpsearch.run.preflight), imported there once (`load`, called by hpsearch.run.preload), inherited by each trial.
A fork server already running (a second study in one Python process) lacks them: its trials import them."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from hpsearch.spec.tasks import TASKS

ENV = "HPSEARCH_PRELOAD_LIBRARIES"  # module names, comma-separated, for the fork server that starts now


@contextmanager
def offered(spec) -> Iterator[None]:
    """Within the block, a fork server that starts imports the libraries of `spec`'s task."""
    info = TASKS.get(spec.task.type)
    names = ",".join(info.preload) if info is not None else ""
    before = os.environ.get(ENV)
    os.environ[ENV] = names
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def load() -> None:
    """In the fork server: import the offered libraries; one that fails is left to the trials, which report it."""
    for name in filter(None, os.environ.pop(ENV, "").split(",")):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the trial importing it again fails with the real reason
            pass
