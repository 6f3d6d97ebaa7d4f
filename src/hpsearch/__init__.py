"""hpsearch: hyperparameter search for fine-tuning language models, on Optuna.

The names below are the public API a notebook user calls; heavy modules load only when first used:

    import hpsearch
    summary = hpsearch.run("space.yaml", n_trials=10)   # run or continue the study; summary.best_value
    planned = hpsearch.dry_run("space.yaml")            # what a run would try first, and what it would cost
    hpsearch.resume("quickstart")                      # continue it from the database alone
    stored = hpsearch.load("quickstart")               # its spec and trials (stored.trials, stored.study)
    hpsearch.best("quickstart")                        # the best trial: values, config, metrics, model_dir
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_space": "hpsearch.spec.space",
    "load_text": "hpsearch.spec.space",
    "StudySpec": "hpsearch.spec.space",
    "CATALOG": "hpsearch.spec.catalog",
    "Hyperparameter": "hpsearch.spec.catalog",
    "HpsearchError": "hpsearch.errors",
    "SpaceError": "hpsearch.errors",
    "suggest": "hpsearch.spec.suggest",
    "sample": "hpsearch.spec.suggest",
    "resume": "hpsearch.run.api",
    "dry_run": "hpsearch.run.api",
    "DryRun": "hpsearch.run.api",
    "RunSummary": "hpsearch.run.run_summary",
    "load": "hpsearch.results.load",
    "best": "hpsearch.results.load",
    "StoredStudy": "hpsearch.results.load",
}
__all__ = sorted([*_EXPORTS, "run"]) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")


class _Package(types.ModuleType):
    """The `hpsearch` module: its `run` is the API's function, though the layer hpsearch.run has the same name.

    Importing a submodule sets it as an attribute of its parent, which would replace the function by the
    package after the first trial ran; the setter keeps the function (the package stays sys.modules["hpsearch.run"]).
    """

    @property
    def run(self):
        from hpsearch.run.api import run

        return run

    @run.setter
    def run(self, value) -> None:
        pass


sys.modules[__name__].__class__ = _Package
