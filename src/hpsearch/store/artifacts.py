"""The best trials' kept model and evaluation curve, registered as Optuna artifacts for the dashboard.

Artifacts live in a `FileSystemArtifactStore` in the folder `artifacts` beside the database (where
hpsearch keeps a database's files: `folders.artifacts_root`), so `hpsearch dashboard` lists and downloads
them.

Optuna refuses to write the attributes of a finished trial, and the best trial is known only once it
has finished, so the files are registered as artifacts of the study (Optuna's own
`upload_artifact(study_or_trial=study)`), named after their trial: `trial-7-model.tar` (the kept model
folder) and `trial-7-curve.json` (its evaluations). The dashboard shows them under "Study Artifacts"
on the study's page. The study system attribute `hpsearch:artifacts` records, per trial number, the
artifact id of each, so a trial is never uploaded twice (`trial_artifacts` reads it back).
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import ArtifactMeta, FileSystemArtifactStore, upload_artifact
from optuna.trial import FrozenTrial

from hpsearch.store import optuna_private
from hpsearch.store.best import best_trials
from hpsearch.store.folders import artifacts_root
from hpsearch.store.stored_trial import StoredTrial

ATTR_ARTIFACTS = "hpsearch:artifacts"  # study system attr: {"<trial number>": {"model": id|None, "curve": id|None}}
KINDS = ("model", "curve")
_OPTUNA_PREFIX = "artifacts:"  # the study system attrs where upload_artifact keeps each artifact's meta


def store_for(url: str) -> FileSystemArtifactStore:
    """The artifact store of the database at `url` (its folder is created)."""
    root = artifacts_root(url)
    root.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(root)


def registered(study: optuna.Study) -> dict[str, dict[str, str | None]]:
    """What register_best recorded: per trial number (a string), the artifact id of its model and curve."""
    value = optuna_private.study_system_attrs(study).get(ATTR_ARTIFACTS)
    return dict(value) if isinstance(value, dict) else {}


def trial_artifacts(study: optuna.Study, trial: FrozenTrial | int) -> dict[str, ArtifactMeta]:
    """The artifacts registered for a trial (or trial number): {"model": meta, "curve": meta}, those it has."""
    number = trial if isinstance(trial, int) else trial.number
    ids = registered(study).get(str(number), {})
    attrs = optuna_private.study_system_attrs(study)
    found = {}
    for kind, artifact_id in ids.items():
        raw = attrs.get(_OPTUNA_PREFIX + artifact_id) if artifact_id else None
        meta = json.loads(raw) if isinstance(raw, str) else None
        if meta:  # None: removed in the dashboard
            found[kind] = ArtifactMeta(meta["artifact_id"], meta["filename"], meta["mimetype"], meta.get("encoding"))
    return found


def register_best(study: optuna.Study, url: str) -> list[str]:
    """Upload the best trials' model (one .tar) and curve (JSON) once each; say what could not be done.

    Never raises: a study's results matter more than its artifacts.
    """
    try:
        best = best_trials(study)
        if not best:
            return []
        done = registered(study)
        todo = [t for t in best if _missing(t, done.get(str(t.number)))]
        if not todo:
            return []
        store, root = store_for(url), artifacts_root(url)
    except Exception as exc:  # noqa: BLE001 - the database or the disk: report, do not fail the study
        return [f"artifacts: not registered ({_why(exc)})"]
    notes: list[str] = []
    for trial in todo:
        record = dict(done.get(str(trial.number), {}))
        for kind in KINDS:
            if kind in record:
                continue
            folder = StoredTrial(trial).model_dir
            if kind == "model" and folder and not Path(folder).is_dir():
                record[kind] = None  # for good: do not try again
                notes.append(f"artifacts: trial {trial.number}'s model folder {folder} is gone; not registered")
                continue
            try:
                record[kind] = _upload(kind, study, trial, store, root)
            except Exception as exc:  # noqa: BLE001
                notes.append(f"artifacts: trial {trial.number}'s {kind} was not registered ({_why(exc)})")
        done[str(trial.number)] = record
        try:
            optuna_private.set_study_system_attr(study, ATTR_ARTIFACTS, done)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"artifacts: cannot record trial {trial.number}'s artifacts ({_why(exc)})")
            break
    return notes


def _missing(trial: FrozenTrial, record: dict[str, Any] | None) -> bool:
    return record is None or any(kind not in record for kind in KINDS)


def _upload(kind: str, study: optuna.Study, trial: FrozenTrial, store: FileSystemArtifactStore,
            root: Path) -> str | None:
    """Write one artifact to a temporary file, upload it to the study, remove the file; None: nothing to upload."""
    folder = StoredTrial(trial).model_dir
    if (kind == "model" and not folder) or (kind == "curve" and not StoredTrial(trial).history):
        return None
    suffix = "model.tar" if kind == "model" else "curve.json"
    # in the store's folder (same disk): a model can be larger than the system's temporary folder
    with tempfile.TemporaryDirectory(prefix=".upload-", dir=root) as scratch:
        path = Path(scratch) / f"trial-{trial.number}-{suffix}"
        if kind == "model":
            with tarfile.open(path, "w") as archive:
                archive.add(folder, arcname=Path(folder).name)
        else:
            path.write_text(json.dumps(_curve(study, trial), indent=1))
        return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study,
                               storage=optuna_private.storage_of(study))


def _curve(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    return {"study": study.study_name, "trial": trial.number, "metric": study.user_attrs.get("metric"),
            "values": trial.values, "params": trial.params, "history": StoredTrial(trial).history}


def _why(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
