"""The space a study was made with, kept in the study: written, compared, read back, passwords masked.

A study stores the full text of its space file and its --set overrides, so `hpsearch resume NAME` needs
only the database, and a second run with a different space is refused (budget keys aside) unless forced.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import replace
from pathlib import Path

import optuna

from hpsearch import __version__
from hpsearch.errors import SpaceError, StorageError, StudyError
from hpsearch.spec import reader
from hpsearch.spec.space import StudySpec, load_text
from hpsearch.spec.storage_url import redact

ATTR_SPEC = "hpsearch:spec"
ATTR_OVERRIDES = "hpsearch:overrides"  # the run's --set assignments, applied over the stored text
ATTR_BASE_DIR = "hpsearch:base_dir"
BUDGET_KEYS = ("n_trials", "timeout", "storage", "n_jobs", "trial_timeout",  # may change between runs of one study
               "trials_per_gpu",
               "start_with")  # known configurations: each new one is queued once (hpsearch.store.known)
# Not study.warm_start: like the sampler, it decides what every later trial proposes, so a resumed study
# learns from the history it started with unless --force says otherwise.
INCOMPLETE = " (incomplete copy)"  # a copy is made under its name + this (hpsearch.store.studies.copy)
SPEC_WAIT_S = 10  # machines started together: the one that creates the study stores its space within this


def canonical(document: reader.Document) -> dict:
    """The space's content (--set overrides applied) without comments, layout, or the keys a run may change."""
    data = document.data or {}
    study = {k: v for k, v in (data.get("study") or {}).items() if k not in BUDGET_KEYS}
    return json.loads(json.dumps({**data, "study": study}, sort_keys=True, default=str))


def stored_spec_text(study: optuna.Study) -> str | None:
    """The study's stored space; for a study another machine has only just created, wait for it a moment."""
    deadline = time.monotonic() + SPEC_WAIT_S
    while (text := study.user_attrs.get(ATTR_SPEC)) is None and time.monotonic() < deadline \
            and not study.get_trials(deepcopy=False):
        time.sleep(0.5)
    return text


def stored_form(spec: StudySpec) -> tuple[str, list[str]]:
    """The space's text and its --set overrides as the study stores them: every password masked."""
    text = spec.text
    if spec.study.storage and redact(spec.study.storage) != spec.study.storage:
        text = text.replace(spec.study.storage, redact(spec.study.storage))  # even a form `redact` cannot spot
    overrides = []
    for override in spec.overrides:
        key, sep, value = override.partition("=")
        overrides.append(f"{key}{sep}{redact(value)}")  # the value alone: one URL, whatever its password holds
    return redact(text), overrides


def hide_passwords(study: optuna.Study, text: str, overrides: list[str]) -> tuple[str, list[str]]:
    """The stored space and overrides with every password masked, rewritten so where an older hpsearch stored one."""
    hidden = redact(text), [f"{k}{sep}{redact(v)}" for k, sep, v in (o.partition("=") for o in overrides)]
    if hidden != (text, overrides):
        study.set_user_attr(ATTR_SPEC, hidden[0])
        study.set_user_attr(ATTR_OVERRIDES, hidden[1])
    return hidden


def store_spec(study: optuna.Study, spec: StudySpec) -> None:
    """Write `spec` (passwords masked) and what the tables and the dashboard read of it onto `study`."""
    text, overrides = stored_form(spec)
    study.set_user_attr(ATTR_SPEC, text)
    study.set_user_attr(ATTR_OVERRIDES, overrides)
    study.set_user_attr("hpsearch:sha256", spec.sha256)
    study.set_user_attr(ATTR_BASE_DIR, str(Path(spec.base_dir).resolve()))
    study.set_user_attr("hpsearch:version", __version__)
    study.set_user_attr("task", spec.task.type)
    study.set_user_attr("model", spec.task.model)
    study.set_user_attr("metric", spec.metric)
    study.set_user_attr("objectives", [o.name for o in spec.objectives])
    with warnings.catch_warnings():  # set_metric_names is marked experimental; the dashboard reads it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in spec.objectives])


def load_stored_spec(name: str, storage: optuna.storages.BaseStorage) -> StudySpec:
    """The spec a study was made with, read back from the database, named `name`: a copy or a renamed study
    (optuna.copy_study's to_study_name) keeps the text of its original, whose study.name is not its own."""
    if name.endswith(INCOMPLETE):
        original = name.removesuffix(INCOMPLETE)
        raise StudyError(f"study {name!r} is an incomplete copy of study {original!r} (its copy was stopped, or is "
                         f"still under way): copy it again with hpsearch copy {original} --from SOURCE --to URL, "
                         "which replaces it")
    try:
        summary = next(s for s in optuna.get_all_study_summaries(storage) if s.study_name == name)
    except StopIteration:
        known = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise StudyError(f"no study {name!r} in this database (it has: {', '.join(known) or 'none'})") from None
    attrs = summary.user_attrs
    text = attrs.get(ATTR_SPEC)
    if text is None:
        raise StudyError(f"study {name!r} was not made by hpsearch, so its space is unknown")
    unreadable = f"study {name!r}: its stored space ({ATTR_SPEC}) is unreadable: "
    overrides, base_dir = attrs.get(ATTR_OVERRIDES, []), attrs.get(ATTR_BASE_DIR, ".")
    if not isinstance(text, str) or not isinstance(base_dir, str) or not isinstance(overrides, list) \
            or not all(isinstance(o, str) for o in overrides):
        raise StorageError(unreadable + "it is not the text of a space file (was the database edited by hand?)")
    try:
        spec = load_text(text, file=f"{name} (stored)", base_dir=base_dir, overrides=overrides)
    except SpaceError as exc:  # edited by hand, or written by an hpsearch that allowed what this one refuses
        more = f" (and {len(exc.problems) - 1} more problems)" if len(exc.problems) > 1 else ""
        raise StorageError(unreadable + str(exc.problems[0]) + more) from None
    return spec if spec.study.name == name else replace(spec, study=spec.study.model_copy(update={"name": name}))
