"""Known configurations in a study: queued once, marked on their trials (hpsearch.spec.start_with reads them).

Each configuration is queued with Optuna's `enqueue_trial` (its values fixed, the rest sampled) and marked
on its trial (`start_with`: where it came from; `hpsearch:start_with_key`: the configuration itself), and its
key is recorded on the study. A configuration whose key the study has recorded, or that a trial carries,
is never queued again: so it runs once across resumes, `hpsearch worker`s and a re-queued interruption
(which keeps the marks, hpsearch.store.trials.recover). Queued trials are ordinary trials: they count in
the budget, and the sampler takes over once the queue is empty.

Processes that open one study at the same moment queue under a file lock beside the database, so one of
them queues and the others find the keys recorded. The lock serialises the processes of one machine, which
covers SQLite; on a server database, processes of several machines that first see a configuration within
the same moment can each queue it (Optuna's own `skip_if_exists` has the same window).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna

from hpsearch.spec.start_with import key

START_WITH = "start_with"  # on a trial: where its known configuration came from (study.start_with.0, best.json)
ATTR_KEY = "hpsearch:start_with_key"  # on a trial: its known configuration, as text
ATTR_QUEUED = "hpsearch:start_with"  # on the study: the keys of every known configuration queued so far
CARRIED = (START_WITH, ATTR_KEY)  # what a re-run of an interrupted trial keeps of it


def enqueue(study: optuna.Study, configurations: list[tuple[str, dict[str, Any]]], lock: Path) -> list[str]:
    """Queue each (label, values) the study has not queued before, in order; what was done, as notes."""
    if not configurations:
        return []
    with _locked(lock):
        queued = list(study.user_attrs.get(ATTR_QUEUED) or [])
        done = set(queued) | {t.user_attrs.get(ATTR_KEY) for t in study.get_trials(deepcopy=False)}
        notes = []
        for label, values in configurations:
            text = key(values)
            if text in done:
                continue
            study.enqueue_trial(values, user_attrs={START_WITH: label, ATTR_KEY: text}, skip_if_exists=True)
            done.add(text)
            queued.append(text)
            notes.append(f"queued {label} to run first: " + ", ".join(f"{k}={v}" for k, v in values.items()))
        if notes:
            study.set_user_attr(ATTR_QUEUED, queued)
    return notes


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, and by the kernel on kill -9
        yield
