"""A study as one self-contained HTML report (Optuna's plotly figures) or as PNG files (Optuna's matplotlib ones).

Both draw the same list of figures. Optuna returns an empty figure, rather than an error, when a study
cannot feed one (no complete trial, no learning curves); such a figure is checked for beforehand and
replaced by a note saying why, as is one that Optuna fails to draw.
"""

from __future__ import annotations

import contextlib
import html
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from hpsearch.errors import UsageError
from hpsearch.numbers import number
from hpsearch.results import summary as results
from hpsearch.store.best import best_trials, objective_names

# Records script errors into the hidden <pre id="hpsearch-errors">, so that a test can see the page render.
_ERRORS_SCRIPT = """<pre id="hpsearch-errors" hidden></pre>
<script>
(function () {
  function record(message) { document.getElementById("hpsearch-errors").textContent += message + "\\n"; }
  window.onerror = function (message, source, line) { record(message + " (" + source + ":" + line + ")"); };
  window.addEventListener("unhandledrejection", function (event) { record("unhandled rejection: " + event.reason); });
})();
</script>"""

_STYLE = """body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
.warning { color: #a15c00; } .hpsearch-note { color: #666; font-style: italic; }"""


@dataclass
class _Figure:
    """One figure of the report: the function of optuna.visualization(.matplotlib) that draws it, or why not."""

    title: str
    slug: str
    plot: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


def write_html(study: optuna.Study, path: Path) -> None:
    """Write the study's header, range warnings and figures to `path` as one HTML file with plotly.js inline.

    Args:
        study: the study to report on.
        path: the HTML file; its folder must exist.
    """
    import plotly.io
    import plotly.offline

    sections = []
    for index, figure in enumerate(_figures(study)):
        drawn = figure.note or _draw(optuna.visualization, study, figure)
        if isinstance(drawn, str):
            sections.append(f'<h2>{_e(figure.title)}</h2>\n<p class="hpsearch-note">not drawn: {_e(drawn)}</p>')
            continue
        div = plotly.io.to_html(drawn, full_html=False, include_plotlyjs=False, div_id=f"figure-{index}",
                                default_height="520px")
        sections.append(f'<h2>{_e(figure.title)}</h2>\n<div class="hpsearch-figure" id="{figure.slug}">{div}</div>')
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<title>hpsearch report: {_e(study.study_name)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n'
            f'{_ERRORS_SCRIPT}\n<script>{plotly.offline.get_plotlyjs()}</script>\n{_header(study)}\n'
            + "\n".join(sections) + "\n</body>\n</html>\n")
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_png(study: optuna.Study, folder: Path) -> list[Path]:
    """Write each figure that can be drawn as a PNG into `folder` (created); returns the files in order.

    Args:
        study: the study to report on.
        folder: where the PNG files go, named NN-figure.png.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import optuna.visualization.matplotlib

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    written = []
    with _agg():
        for index, figure in enumerate(_figures(study), start=1):
            axes = figure.note or _draw(optuna.visualization.matplotlib, study, figure)
            if isinstance(axes, str):
                continue
            drawing = np.ravel(axes)[0].figure
            path = _png_path(folder, index, figure)
            try:
                drawing.savefig(path, bbox_inches="tight")
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
            finally:
                plt.close(drawing)
            written.append(path)
    return written


def png_files(study: optuna.Study, folder: Path) -> list[Path]:
    """The files write_png would write into `folder` (it skips any that Optuna then fails to draw)."""
    return [_png_path(folder, index, figure) for index, figure in enumerate(_figures(study), start=1)
            if figure.note is None]


def _png_path(folder: Path, index: int, figure: _Figure) -> Path:
    return folder / f"{index:02d}-{figure.slug}.png"


def _figures(study: optuna.Study) -> list[_Figure]:
    """The report's figures in order, each with its Optuna arguments or the reason it cannot be drawn."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    none = "no complete trial yet" if not complete else None
    unsearched = none or (None if any(t.params for t in complete) else "no hyperparameter was searched")
    few = unsearched or (f"importances need at least 2 complete trials (this study has {len(complete)})"
                         if len(complete) < 2 else None)
    curves = None if any(t.intermediate_values for t in trials) else "no trial reported intermediate values"
    names = objective_names(study.user_attrs, len(study.directions))
    figures = []
    if len(names) > 1:
        pareto = none or (None if len(names) <= 3 else f"Optuna draws 2 or 3 objectives, not {len(names)}")
        figures.append(_Figure("Pareto front", "pareto-front", "plot_pareto_front", {"target_names": names}, pareto))
    for index, (name, direction) in enumerate(zip(names, study.directions, strict=True)):
        if len(names) == 1:
            target, ranked, suffix, slug = {"target_name": name}, {"target_name": name}, "", ""
        else:
            sign = -1 if direction == optuna.study.StudyDirection.MAXIMIZE else 1  # importances favour low values
            target = {"target": lambda t, i=index: t.values[i], "target_name": name}
            ranked = {"target": lambda t, i=index, s=sign: s * t.values[i], "target_name": name}
            suffix, slug = f" of {name}", "-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        figures.append(_Figure(f"Optimization history{suffix}", f"history{slug}", "plot_optimization_history",
                               target, none))
        if index == 0:
            figures.append(_Figure("Intermediate values (learning curves, pruned trials included)",
                                   "intermediate-values", "plot_intermediate_values", {}, curves))
        figures.append(_Figure(f"Parallel coordinates{suffix}", f"parallel-coordinates{slug}",
                               "plot_parallel_coordinate", target, unsearched))
        figures.append(_Figure(f"Hyperparameter importances{suffix}", f"importances{slug}", "plot_param_importances",
                               ranked, few))
        figures.append(_Figure(f"Slices{suffix}", f"slices{slug}", "plot_slice", target, unsearched))
    return figures


def _draw(module, study: optuna.Study, figure: _Figure) -> Any:
    """The figure drawn by `module` (Optuna's plotly or matplotlib functions), or why Optuna could not draw it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning, and the plotting libraries' own
        try:
            return getattr(module, figure.plot)(study, **figure.kwargs)
        except Exception as exc:  # noqa: BLE001 - whatever breaks one figure becomes its note
            return f"Optuna could not draw it ({type(exc).__name__}: {exc})".splitlines()[0]


def _header(study: optuna.Study) -> str:
    """The study's name, task, model, objectives, trial counts, best trial (or Pareto front) and range warnings."""
    attrs = study.user_attrs
    names = objective_names(study.user_attrs, len(study.directions))
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    goal = ", ".join(f"{n} ({d.name.lower()})" for n, d in zip(names, study.directions, strict=True))
    rows = [("task", attrs.get("task", "-")), ("model", attrs.get("model", "-")), ("objectives", goal),
            ("trials", f"{sum(states.values())}: " + ", ".join(f"{n} {s}" for s, n in states.items()))]
    if warm := results.warm_start_line(study):  # the history's trials are not among the study's: say whose
        rows.append(("warm start", warm))
    lines = [f"<h1>Study {_e(study.study_name)}</h1>", "<table>",
             *(f"<tr><th>{k}</th><td>{_e(v)}</td></tr>" for k, v in rows), "</table>"]
    leaders = best_trials(study)
    if not leaders:
        lines.append("<p>no complete trial yet</p>")
    elif len(names) == 1:
        best = leaders[0]
        lines.append(f"<h2>Best {_e(names[0])}: {_e(number(best.value))} (trial {best.number})</h2>")
        lines.append("<p>" + ", ".join(f"{_e(k)}={_e(number(v))}" for k, v in best.params.items()) + "</p>")
    else:
        params = sorted({k for t in leaders for k in t.params})
        lines.append(f"<h2>Pareto front ({len(leaders)} trials)</h2>\n<table>")
        lines.append("<tr>" + "".join(f"<th>{_e(c)}</th>" for c in ["trial", *names, *params]) + "</tr>")
        lines += ["<tr>" + "".join(f"<td>{_e(number(v))}</td>" for v in [
            t.number, *t.values, *(t.params.get(p, "-") for p in params)]) + "</tr>" for t in leaders]
        lines.append("</table>")
    lines += [f'<p class="warning">warning: {_e(b)}</p>' for b in results.boundaries(study)]
    return "\n".join(lines)


@contextlib.contextmanager
def _agg():
    """Draw with matplotlib's Agg backend (no display needed), then give back the caller's backend and style."""
    import matplotlib
    import matplotlib.pyplot as plt

    previous = matplotlib.get_backend(auto_select=False)
    plt.switch_backend("Agg")
    try:
        with matplotlib.rc_context():  # Optuna switches to the ggplot style
            yield
    finally:
        if previous and previous.lower() != "agg":
            with contextlib.suppress(ImportError):
                plt.switch_backend(previous)


def _e(value: Any) -> str:
    return html.escape(str(value))
