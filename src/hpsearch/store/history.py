"""The history a warm-started study learns from: the complete trials of earlier studies (`study.warm_start`).

`read` opens the study's database read-only, checks each source study (it exists, it optimizes in the same
direction) and turns each complete trial whose values fit this space (hpsearch.spec.warm_start.fit) into a
trial of this space's distributions, with the source's objective values. Nothing is written: the history
lives in the sampler only (hpsearch.search.warm_start), and is read afresh, in the same order, at every
start, so a resumed study and every process sharing it learn from the same history. What the last start
used is recorded on the study (`ATTR_WARM_START`) for `show`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import SpaceError, StudyError, did_you_mean
from hpsearch.spec import warm_start
from hpsearch.spec.space import StudySpec
from hpsearch.spec.storage_url import redact
from hpsearch.store.studies import storage_for
from hpsearch.trial import CONFIG, FEASIBLE

ATTR_WARM_START = "hpsearch:warm_start"  # on the study: {source study: trials used} at its last start
FROM = "warm_start_from"  # on a history trial (in the sampler only): "study#number" it came from


@dataclass
class History:
    """The trials the sampler learns from beside the study's own, and what each source gave."""

    trials: list[FrozenTrial] = field(default_factory=list)
    used: dict[str, int] = field(default_factory=dict)  # source study -> trials used
    notes: list[str] = field(default_factory=list)  # for the run's start: used and skipped, per source


def read(spec: StudySpec, url: str) -> History:
    """The history `spec`'s study.warm_start names, from the database at `url`; SpaceError (exit 2) for a source
    that is not there or optimizes the other way, each problem with its file, line and key."""
    warm = spec.study.warm_start
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = storage_for(url, read_only=True)
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    except StudyError:  # no database yet, or one without Optuna's tables: it holds no study
        storage, names = None, []
    sources, problems = [], []
    directions = [o.direction for o in spec.objectives]
    for index, name in enumerate(warm.from_):
        path = ("study", "warm_start", "from", index)
        if name not in names:
            hint = did_you_mean(name, names) or " (run it first: warm start reads the studies of this database)"
            problems.append(spec.problem(path, f"no study {name!r} in {redact(url)}{hint}"))
            continue
        source = optuna.load_study(study_name=name, storage=storage)
        theirs = [d.name.lower() for d in source.directions]
        if theirs != directions:
            problems.append(spec.problem(path, f"study {name} optimizes {', '.join(theirs)}, this study "
                                               f"{', '.join(directions)}: warm start needs the same direction"))
            continue
        sources.append(source)
    if problems:
        raise SpaceError(problems)
    history = History()
    for source in sources:
        _add(history, source, spec, warm.top)
    return history


def _add(history: History, source: optuna.Study, spec: StudySpec, top: int | None) -> None:
    """The fitting complete trials of `source` (its `top` best) onto `history`, and its line."""
    name = source.study_name
    skipped: Counter = Counter()
    fitted = []
    for trial in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.user_attrs.get(FEASIBLE) is False:
            skipped["broke a constraint"] += 1
            continue
        config = trial.user_attrs.get(CONFIG)
        values, reason = warm_start.fit({**(config if isinstance(config, dict) else {}), **trial.params}, spec.space)
        if reason:
            skipped[reason] += 1
        else:
            fitted.append((trial.number, (trial, values), trial.values[0]))
    kept = warm_start.best(fitted, maximize=spec.objectives[0].direction == "maximize", top=top)
    if len(kept) < len(fitted):
        skipped[f"not among the top {top}"] += len(fitted) - len(kept)
    for _, (trial, values), _ in kept:
        history.trials.append(optuna.trial.create_trial(
            params=values, distributions={n: spec.space[n].to_distribution() for n in values},
            values=trial.values, user_attrs={FROM: f"{name}#{trial.number}"}))
    history.used[name] = len(kept)
    history.notes.append(warm_start.describe(name, len(kept), skipped))
    theirs = source.user_attrs.get("objectives")
    ours = [o.name for o in spec.objectives]
    if isinstance(theirs, list) and theirs != ours:
        history.notes.append(f"warm start: study {name} optimized {', '.join(map(str, theirs))}, this study "
                             f"{', '.join(ours)}: the sampler compares their values as they are")


def record(study: optuna.Study, history: History) -> None:
    """Say on the study which studies warm-started it with how many trials (what `show` prints)."""
    if study.user_attrs.get(ATTR_WARM_START) != history.used:
        study.set_user_attr(ATTR_WARM_START, history.used)
