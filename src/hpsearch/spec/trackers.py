"""The experiment trackers a trial may log to (`task.report_to`), and whether each is installed.

The logging itself is transformers' own integration callbacks (hpsearch.train.trackers names each trial's run);
this module only knows the names and the packages, so that `hpsearch validate` imports neither.
May import: hpsearch.errors.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from hpsearch.errors import SpaceError

# report_to name -> the packages any one of which the transformers integration works with, the first to install
TRACKERS: dict[str, tuple[str, ...]] = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "mlflow": ("mlflow",),
    "wandb": ("wandb",),
}


def missing(names: list[str]) -> list[str]:
    """Why each tracker of `names` cannot log here (its package is not installed), one message each."""
    problems = []
    for name in names:
        packages = TRACKERS[name]
        if not any(importlib.util.find_spec(p) is not None for p in packages):
            others = f"; {' or '.join(packages[1:])} also works" if len(packages) > 1 else ""
            problems.append(f"{name} needs the {packages[0]} package, which is not installed "
                            f"(pip install {packages[0]}{others})")
    return problems


def check_installed(spec: Any) -> None:
    """Refuse a StudySpec whose trackers cannot log on this machine: SpaceError at task.report_to's line.

    Not a rule of the file: a study stored with a tracker must still read (`show`) where it is not installed.
    """
    problems = missing(spec.task.report_to)
    if problems:
        raise SpaceError([spec.problem(("task", "report_to"), message) for message in problems])
