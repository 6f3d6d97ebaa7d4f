"""The best trials' model and curve, registered as Optuna artifacts of their study at the end of a run."""

import json
import tarfile
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import download_artifact, get_all_artifact_meta
from optuna.distributions import FloatDistribution

from hpsearch.store import artifacts
from hpsearch.store.studies import storage_for

HISTORY = [[5, 0.5], [10, 0.75]]


def _load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_for(url, create=False))


def _download(store, meta, folder: Path) -> Path:
    path = folder / meta.filename
    download_artifact(artifact_store=store, file_path=str(path), artifact_id=meta.artifact_id)
    return path


def _made_study(tmp_path: Path, values=(0.5, 0.75), directions=("maximize",), user_attrs=None):
    """A study of finished trials made by hand (no training); returns it and its database URL."""
    url = f"sqlite:///{tmp_path}/db/hpsearch.db"
    study = optuna.create_study(study_name="hand", storage=storage_for(url), directions=list(directions))
    for i, value in enumerate(values):
        attrs = {"history": HISTORY, **(user_attrs or {})}
        study.add_trial(optuna.trial.create_trial(
            values=list(value) if isinstance(value, tuple) else [value], params={"x": i / 10},
            distributions={"x": FloatDistribution(0, 1)}, user_attrs=attrs))
    return study, url


def test_a_run_registers_its_best_model_and_curve(stored_studies, tmp_path):
    for name in stored_studies.names:
        study = _load(stored_studies.storage, name)
        best = study.best_trial
        found = artifacts.trial_artifacts(study, best)
        assert set(found) == {"model", "curve"}, name
        assert found["model"].filename == f"trial-{best.number}-model.tar"
        assert found["model"].mimetype == "application/x-tar"
        assert found["curve"].filename == f"trial-{best.number}-curve.json"
        assert found["curve"].mimetype == "application/json"
        # Optuna's own API lists them, on the study (a finished trial's attributes cannot be written)
        listed = {m.artifact_id: m for m in get_all_artifact_meta(study)}
        assert listed[found["model"].artifact_id] == found["model"]
        assert listed[found["curve"].artifact_id] == found["curve"]
        assert len(listed) == 2  # the best trial's only


def test_the_artifacts_download_as_the_curve_and_the_model(stored_studies, tmp_path):
    study = _load(stored_studies.storage, "alpha")
    best = study.best_trial
    found = artifacts.trial_artifacts(study, best)
    store = artifacts.store_for(stored_studies.storage)
    assert Path(store._base_path) == stored_studies.root / "studies" / "artifacts"

    curve = json.loads(_download(store, found["curve"], tmp_path).read_text())
    assert curve["history"] == best.user_attrs["history"] and curve["history"]
    assert (curve["study"], curve["trial"], curve["values"]) == ("alpha", best.number, best.values)

    model_dir = Path(best.user_attrs["model_dir"])
    with tarfile.open(_download(store, found["model"], tmp_path)) as archive:
        names = {m.name for m in archive.getmembers() if m.isfile()}
    kept = {f"{model_dir.name}/{p.relative_to(model_dir)}" for p in model_dir.rglob("*") if p.is_file()}
    assert names == kept and any(n.endswith("config.json") for n in names)
    assert not list(Path(store._base_path).glob(".upload-*"))  # the temporary archives are gone


def test_registering_again_uploads_nothing(stored_studies):
    study = _load(stored_studies.storage, "alpha")
    before = get_all_artifact_meta(study)
    files = sorted(p.name for p in artifacts.artifacts_root(stored_studies.storage).iterdir())
    assert artifacts.register_best(study, stored_studies.storage) == []
    assert get_all_artifact_meta(study) == before
    assert sorted(p.name for p in artifacts.artifacts_root(stored_studies.storage).iterdir()) == files


def test_without_a_kept_model_only_the_curve(tmp_path):
    study, url = _made_study(tmp_path)
    assert artifacts.register_best(study, url) == []
    found = artifacts.trial_artifacts(study, study.best_trial)
    assert list(found) == ["curve"] and found["curve"].filename == "trial-1-curve.json"
    curve = json.loads(_download(artifacts.store_for(url), found["curve"], tmp_path).read_text())
    assert curve["history"] == HISTORY
    assert artifacts.registered(study) == {"1": {"model": None, "curve": found["curve"].artifact_id}}
    assert artifacts.register_best(study, url) == []
    assert len(get_all_artifact_meta(study)) == 1


def test_several_objectives_register_each_pareto_trial(tmp_path):
    study, url = _made_study(tmp_path, values=((1.0, 2.0), (2.0, 1.0), (0.5, 0.5)),
                             directions=("maximize", "maximize"))
    assert artifacts.register_best(study, url) == []
    assert sorted(artifacts.registered(study)) == ["0", "1"]
    assert {m.filename for m in get_all_artifact_meta(study)} == {"trial-0-curve.json", "trial-1-curve.json"}


def test_a_vanished_model_folder_is_a_note_once(tmp_path):
    study, url = _made_study(tmp_path, user_attrs={"model_dir": str(tmp_path / "gone")})
    notes = artifacts.register_best(study, url)
    assert len(notes) == 1 and "model folder" in notes[0] and "gone" in notes[0]
    assert list(artifacts.trial_artifacts(study, 1)) == ["curve"]
    assert artifacts.register_best(study, url) == []


def test_a_failure_is_a_note_not_an_error(tmp_path, monkeypatch):
    study, url = _made_study(tmp_path)
    (tmp_path / "db" / "artifacts").write_text("a file where the folder should be")
    notes = artifacts.register_best(study, url)
    assert len(notes) == 1 and notes[0].startswith("artifacts: not registered")
    assert artifacts.registered(study) == {}

    (tmp_path / "db" / "artifacts").unlink()

    def broken(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "upload_artifact", broken)
    notes = artifacts.register_best(study, url)
    assert notes == ["artifacts: trial 1's curve was not registered (disk full)"]
    assert not list((tmp_path / "db" / "artifacts").iterdir())  # no temporary file left
    monkeypatch.undo()
    assert artifacts.register_best(study, url) == []  # what failed is tried again
    assert list(artifacts.trial_artifacts(study, 1)) == ["curve"]


def test_nothing_complete_nothing_registered(tmp_path):
    url = f"sqlite:///{tmp_path}/hpsearch.db"
    study = optuna.create_study(study_name="empty", storage=storage_for(url))
    assert artifacts.register_best(study, url) == []
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize("trial", [0, 5])
def test_unregistered_trials_have_no_artifacts(tmp_path, trial):
    study, _ = _made_study(tmp_path)
    assert artifacts.trial_artifacts(study, trial) == {}
