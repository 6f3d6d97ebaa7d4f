"""A study's trials as a table to take elsewhere: one flat row per trial, written as csv, json or parquet; and
`json_text`, the one writer of trial values as JSON (export's rows, best's records)."""

from __future__ import annotations

import json
import math
from typing import Any

import optuna

from hpsearch.errors import UsageError
from hpsearch.store.best import objective_names
from hpsearch.store.stored_trial import StoredTrial


def rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One flat row per trial: number, state, values, parameters, metrics and the recorded attributes."""
    objectives = objective_names(study.user_attrs, len(study.directions))
    found = []
    for trial in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        for index, name in enumerate(objectives):
            row[f"value_{name}"] = trial.values[index] if trial.values and index < len(trial.values) else None
        row["datetime_start"] = trial.datetime_start.isoformat() if trial.datetime_start else None
        row["datetime_complete"] = trial.datetime_complete.isoformat() if trial.datetime_complete else None
        row["duration_seconds"] = trial.duration.total_seconds() if trial.duration else None
        for name, value in trial.params.items():
            row[f"param_{name}"] = value
        for name, value in trial.user_attrs.items():
            if name in ("config", "history", "traceback", "versions", "notes", "hpsearch:owner"):
                continue
            if isinstance(value, dict):
                for key, inner in value.items():
                    row[f"{name}.{key}"] = inner
            else:
                row[name] = value
        row["n_evaluations"] = len(StoredTrial(trial).history)
        found.append(row)
    return found


def json_text(data: Any) -> str:
    """`data` as JSON text, non-finite numbers (inf, nan: a diverged loss, an unbounded norm) written as null:
    JSON has no Infinity, and Python's `json.dumps` would write it anyway."""
    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {key: finite(inner) for key, inner in value.items()}
        return [finite(inner) for inner in value] if isinstance(value, (list, tuple)) else value

    return json.dumps(finite(data), indent=2, default=str, allow_nan=False) + "\n"


def write_trials(study: optuna.Study, format: str, path) -> int:
    """Write one row per trial to `path` as csv, json or parquet; returns the number of rows."""
    import pandas as pd

    frame = pd.DataFrame(rows(study))
    path = str(path)
    try:
        if format == "csv":
            frame.to_csv(path, index=False)
        elif format == "json":
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(json_text(frame.to_dict(orient="records")))
        else:
            frame.to_parquet(path, index=False)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(frame)
