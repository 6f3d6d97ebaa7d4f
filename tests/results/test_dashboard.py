"""`hpsearch dashboard`: optuna-dashboard on a stored database and its artifacts, stopped by a signal."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import optuna
import pytest

from hpsearch.store import artifacts
from hpsearch.store.studies import storage_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env():
    return {k: v for k, v in os.environ.items() if k != "HPSEARCH_STORAGE"}


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpsearch", "dashboard", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
        return answer.read()


def _wait_until_served(process: subprocess.Popen, port: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the dashboard exited with {process.returncode}: {out}\n{err}")
        try:
            return json.loads(_get(port, "/api/studies"))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the dashboard did not answer within {timeout} s")
            time.sleep(0.2)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpsearch", "dashboard", *args], capture_output=True, text=True,
                          env=_env(), timeout=60)


def test_serves_the_studies_and_their_artifacts_until_ctrl_c(stored_studies):
    port = _free_port()
    process = _start("--storage", stored_studies.storage, "--port", str(port))
    try:
        listed = _wait_until_served(process, port)
        served = {s["study_name"]: s["study_id"] for s in listed["study_summaries"]}
        assert sorted(served) == stored_studies.names

        study = optuna.load_study(study_name="alpha", storage=storage_for(stored_studies.storage, create=False))
        found = artifacts.trial_artifacts(study, study.best_trial)
        detail = json.loads(_get(port, f"/api/studies/{served['alpha']}"))
        assert {a["filename"] for a in detail["artifacts"]} == {m.filename for m in found.values()}
        assert json.loads(_get(port, "/api/meta"))["artifact_is_available"] is True

        stored = artifacts.artifacts_root(stored_studies.storage)
        for meta in found.values():
            body = _get(port, f"/artifacts/{served['alpha']}/{meta.artifact_id}")
            assert body == (stored / meta.artifact_id).read_bytes()
        curve = json.loads(_get(port, f"/artifacts/{served['alpha']}/{found['curve'].artifact_id}"))
        assert curve["history"] == study.best_trial.user_attrs["history"]
        assert b"<html" in _get(port, "/dashboard/").lower()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "Traceback" not in out
    assert f"http://127.0.0.1:{port}/dashboard/" in out
    assert "no authentication" not in err


def test_sigterm_stops_it_cleanly_and_an_open_host_is_warned_about(stored_studies):
    port = _free_port()
    process = _start("--storage", stored_studies.storage, "--port", str(port), "--host", "0.0.0.0")
    try:
        _wait_until_served(process, port)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if "no authentication" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning:")


def test_a_missing_database_is_one_line_and_exit_2(tmp_path):
    result = _run("--storage", f"sqlite:///{tmp_path}/none.db", "--port", str(_free_port()))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "no study database" in result.stderr
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "artifacts").exists()


def test_a_port_in_use_is_one_line_and_exit_2(stored_studies):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("--storage", stored_studies.storage, "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: port {port} is in use: choose another with --port"
    assert "Traceback" not in result.stderr


def test_the_password_of_a_database_url_is_never_printed(tmp_path, monkeypatch, capsys):
    from hpsearch.results import dashboard

    def fake_storage(url, create=True):
        assert create is False
        return optuna.storages.RDBStorage("sqlite:///" + str(tmp_path / "db.sqlite"))

    def stop(self, poll_interval=0.5):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)  # a server database keeps its artifacts in ./studies/artifacts
    monkeypatch.setattr("hpsearch.store.studies.storage_for", fake_storage)
    monkeypatch.setattr(dashboard._Server, "serve_forever", stop)
    dashboard.serve("postgresql://user:secret@db.example/hp", "127.0.0.1", 0)
    out = capsys.readouterr().out
    assert "secret" not in out and "postgresql://user:***@db.example/hp" in out
    assert "dashboard stopped" in out and (tmp_path / "studies" / "artifacts").is_dir()


def test_addresses():
    from hpsearch.results import dashboard

    assert dashboard._address("::1", 8080) == "http://[::1]:8080/dashboard/"
    assert dashboard._address("", 8080) == "http://0.0.0.0:8080/dashboard/"
    assert all(dashboard._loopback(h) for h in ("localhost", "127.0.0.1", "127.0.0.2", "::1"))
    assert not any(dashboard._loopback(h) for h in ("0.0.0.0", "", "::", "192.0.2.1"))
