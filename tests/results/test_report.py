"""hpsearch report: one self-contained HTML file that renders without script errors, PNG files, and the CLI."""

import re
import subprocess
import tempfile
from pathlib import Path

import optuna
import pytest

from helpers import cli, load_study
from hpsearch.errors import UsageError
from hpsearch.results import report

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SINGLE = ["history", "intermediate-values", "parallel-coordinates", "importances", "slices"]
MULTI = ["pareto-front", "history-accuracy", "parallel-coordinates-accuracy", "importances-accuracy",
         "slices-accuracy", "history-latency", "parallel-coordinates-latency", "importances-latency", "slices-latency"]


@pytest.fixture(scope="module")
def alpha(stored_studies):
    return load_study(stored_studies.storage, "alpha")


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """A two-objective study of six asked/told trials, with the attributes hpsearch stores."""
    url = f"sqlite:///{tmp_path_factory.mktemp('multi')}/multi.db"
    study = optuna.create_study(study_name="multi", directions=["maximize", "minimize"], storage=url,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for key, value in (("task", "sequence-classification"), ("model", "tiny-bert"),
                       ("objectives", ["accuracy", "latency"])):
        study.set_user_attr(key, value)
    for number in range(6):
        trial = study.ask()
        rate = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        study.tell(trial, [0.5 + dropout - number / 20, rate * 100 + number / 10])
    return study


def one_trial_study():
    study = optuna.create_study(study_name="single")
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, 0.5)
    return study


def figures(page: str) -> dict[str, str]:
    """Each figure container of a page (or of its rendered DOM) by its id, up to the next heading."""
    found = {}
    for part in page.split('<div class="hpsearch-figure" id="')[1:]:
        name, _, rest = part.partition('"')
        found[name] = rest.split("<h2>")[0]
    return found


def render(path: Path) -> str:
    """The DOM of `path` after headless Chromium ran its scripts."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", path.resolve().as_uri()],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_html_is_self_contained(alpha, tmp_path):
    path = tmp_path / "alpha.html"
    report.write_html(alpha, path)
    page = path.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert page.count("* plotly.js v") == 1
    for text in ("Study alpha", "sequence-classification", "eval_accuracy (maximize)", "Best eval_accuracy"):
        assert text in page
    assert list(figures(page)) == SINGLE
    assert page.count('class="plotly-graph-div"') == len(SINGLE)
    assert "hpsearch-note" not in page.split("</style>")[1]


@pytest.mark.parametrize("which", ["alpha", "multi"])
def test_html_renders_without_script_errors(which, request, tmp_path):
    path = tmp_path / f"{which}.html"
    report.write_html(request.getfixturevalue(which), path)
    dom = render(path)
    drawn = figures(dom)
    assert list(drawn) == (SINGLE if which == "alpha" else MULTI)
    for name, container in drawn.items():
        assert 'class="main-svg"' in container, f"figure {name} was not rendered"
    errors = re.search(r'<pre id="hpsearch-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert errors is not None and errors.group(1).strip() == ""


def test_multi_objective_report_has_pareto_front_and_histories(multi, tmp_path):
    path = tmp_path / "multi.html"
    report.write_html(multi, path)
    page = path.read_text()
    assert "accuracy (maximize), latency (minimize)" in page
    assert re.search(r"<h2>Pareto front \(\d+ trials\)</h2>", page)
    assert list(figures(page)) == MULTI
    assert "not drawn: no trial reported intermediate values" in page


def test_png_files(alpha, tmp_path):
    written = report.write_png(alpha, tmp_path / "figures")
    assert [p.name for p in written] == [f"{i:02d}-{name}.png" for i, name in enumerate(SINGLE, start=1)]
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000


def test_one_trial_skips_what_cannot_be_drawn(tmp_path):
    study = one_trial_study()
    written = report.write_png(study, tmp_path / "figures")
    assert [p.name for p in written] == ["01-history.png", "03-parallel-coordinates.png", "05-slices.png"]
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in written)
    report.write_html(study, tmp_path / "single.html")
    page = (tmp_path / "single.html").read_text()
    assert "not drawn: no trial reported intermediate values" in page
    assert "not drawn: importances need at least 2 complete trials (this study has 1)" in page
    assert list(figures(page)) == ["history", "parallel-coordinates", "slices"]


def test_empty_study_is_all_notes(tmp_path):
    study = optuna.create_study(study_name="empty")
    report.write_html(study, tmp_path / "empty.html")
    page = (tmp_path / "empty.html").read_text()
    assert figures(page) == {} and page.count("not drawn: no complete trial yet") == 4
    assert report.write_png(study, tmp_path / "figures") == []


def test_unwritable_output_is_a_usage_error(tmp_path):
    study = one_trial_study()
    with pytest.raises(UsageError, match="cannot write .*missing"):
        report.write_html(study, tmp_path / "missing" / "report.html")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot create the folder"):
        report.write_png(study, tmp_path / "file")


def test_cli_writes_html_and_png(stored_studies, tmp_path):
    done = cli("report", "alpha", "--storage", stored_studies.storage, "-o", str(tmp_path / "r.html"),
                    "--png", str(tmp_path / "png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").stat().st_size > 1_000_000
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        f"{i:02d}-{name}.png" for i, name in enumerate(SINGLE, start=1)]
    assert f"wrote {tmp_path / 'r.html'}" in done.stdout


def test_cli_unknown_study(stored_studies, tmp_path):
    done = cli("report", "nope", "--storage", stored_studies.storage, "-o", str(tmp_path / "r.html"))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: no study 'nope'") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_a_warm_started_study_says_from_which_studies(tmp_path):
    from hpsearch.store.history import ATTR_WARM_START

    study = one_trial_study()
    study.set_user_attr(ATTR_WARM_START, {"earlier": 12})
    report.write_html(study, tmp_path / "warm.html")
    page = (tmp_path / "warm.html").read_text()
    assert "<th>warm start</th><td>warm-started from earlier (12 trials used): they informed the sampler" in page
    assert "<th>trials</th><td>1: 1 complete</td>" in page  # the history is not among the study's trials
