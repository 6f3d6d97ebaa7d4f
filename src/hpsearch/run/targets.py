"""The functions a worker process starts in (multiprocessing's `target`).

They live apart from the code they run so that the study process can name them without importing it:
the fork server has already imported the worker and the training libraries, the study process never does.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from hpsearch.run.protocol import Channel, TrialJob


def train_trial(conn, job: TrialJob) -> None:
    """A trial's process: train it, send its result (see hpsearch.run.worker.main), exit."""
    from hpsearch.run.worker import main

    main(conn, job)
    # Skip the interpreter's teardown of torch and friends: the result is sent, nothing is left to flush.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
