"""hpsearch: hyperparameter search for fine-tuning language models, on Optuna.

The names below are the public API a notebook user calls; heavy modules load only when first used.
"""

from __future__ import annotations

import importlib
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
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
