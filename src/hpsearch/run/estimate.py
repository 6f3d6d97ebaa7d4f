"""What a study will cost before it runs, and what it did cost: `run --dry-run` prints the estimate, `run` stores
it on the study at its first start, `show` prints it beside the compute the trials really spent.

The pace is seconds of training per example-token (a trial's `train_seconds` over its steps x effective batch x
sequence length), so a pace measured at one batch and sequence length scales to another; evaluations are part
of `train_seconds` and scale with it. It comes from the complete and pruned trials of the same model in the
database (every study), else from one calibration trial of CALIBRATION_STEPS steps run by the real worker
(`--calibrate`). The range is the middle half of the earlier trials' paces (all of them under four); a
calibration is one measurement, its first steps slower than the rest, so its figure leans high. The expected
saving of pruning and early stopping is the share of planned steps the earlier trials of that model did not
train (under their own pruners); with none known (a calibration), none is assumed.

A custom task (the user's code) and a decoding-only study (nothing trains: each trial generates for the
evaluation prompts) have no pace in example-tokens: they are not estimated nor calibrated, and `show`
reports what their trials spent (generating counted).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace

import optuna
from optuna.trial import TrialState

from hpsearch.errors import HpsearchError, StudyError, UsageError
from hpsearch.spec import catalog, recommended
from hpsearch.spec.space import StudySpec
from hpsearch.spec.tasks import TASKS
from hpsearch.store import folders, studies
from hpsearch.store.database import sqlite_path

ATTR_ESTIMATE = "hpsearch:estimate"  # on the study: the estimate made when it first ran
CALIBRATION_STEPS = 10


@dataclass
class Pace:
    """Seconds of training per example-token, one per measured trial, and where they come from."""

    per_token: list[float]
    setup: float  # median seconds a trial spends before training (data, model, Trainer)
    saved: float | None  # share of planned steps the measured trials did not train; None: unknown
    basis: str


@dataclass
class Budget:
    """The study's budget in training work: trials, steps each, examples a step, tokens an example."""

    trials: int
    steps: int | None
    examples: float
    tokens: float
    how: str  # how the steps were found


def typical(spec: StudySpec, name: str) -> float | None:
    """A trial's value of `name`: fixed, the middle of its searched range (mean of numeric choices), or its default."""
    if name in spec.fixed:
        return spec.fixed[name]
    entry = spec.space.get(name)
    if entry is None:
        return catalog.CATALOG[name].default
    if entry.kind == "categorical":
        numbers = [c for c in entry.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        return statistics.mean(numbers) if numbers else None
    return math.sqrt(entry.low * entry.high) if entry.log else (entry.low + entry.high) / 2


def budget(spec: StudySpec) -> Budget:
    examples = (typical(spec, "batch_size") or 16) * (typical(spec, "gradient_accumulation_steps") or 1)
    tokens = typical(spec, "sequence_length") or 128
    limit = recommended.positions(spec.task.model, spec.base_dir) if spec.task.model else None
    tokens = min(tokens, limit) if limit else tokens  # the model reads no more positions than it has
    steps, how = typical(spec, "max_steps"), "max_steps"
    if steps is None and spec.task.dataset.train_size:
        epochs = typical(spec, "num_epochs") or 3
        steps = epochs * math.ceil(spec.task.dataset.train_size / examples)
        how = f"{epochs:g} epochs of {spec.task.dataset.train_size} examples"
    elif steps is None:
        how = "unknown: neither max_steps nor task.dataset.train_size is given"
    return Budget(spec.study.n_trials, None if steps is None else round(steps), examples, tokens, how)


def from_database(spec: StudySpec, url: str) -> Pace | None:
    """The pace of earlier trials of this model in the database at `url` (read only); None when there are none."""
    if url.startswith("sqlite") and not sqlite_path(url).exists() or TASKS[spec.task.type].custom \
            or spec.decode_only:
        return None  # looking never creates a database; a custom or decoding trial has no pace in example-tokens
    try:
        storage = studies.storage_for(url, read_only=True)
        summaries = [s for s in optuna.get_all_study_summaries(storage) if s.user_attrs.get("model") == spec.task.model]
        measured = [(s.study_name, t) for s in summaries
                    for t in optuna.load_study(study_name=s.study_name, storage=storage)
                    .get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))]
    except (HpsearchError, *studies.DATABASE_ERRORS):
        return None
    used = [(name, t.user_attrs) for name, t in measured if _pace(t.user_attrs) is not None]
    if not used:
        return None
    paces = [_pace(a) for _, a in used]
    planned = sum(a.get("planned_steps") or a["stop_step"] for _, a in used)
    devices = sorted({str(a.get("device")) for _, a in used})
    names = ", ".join(dict.fromkeys(name for name, _ in used))
    return Pace(paces, statistics.median(a.get("setup_seconds") or 0.0 for _, a in used),
                1 - sum(a["stop_step"] for _, a in used) / planned if planned else None,
                f"from {len(paces)} earlier trials of {spec.task.model} (studies {names}; on {', '.join(devices)})")


def _pace(attrs: dict) -> float | None:
    seconds, steps, batch = attrs.get("train_seconds"), attrs.get("stop_step"), attrs.get("effective_batch_size")
    tokens = (attrs.get("config") or {}).get("sequence_length", catalog.CATALOG["sequence_length"].default)
    if not seconds or not steps or not batch or not isinstance(tokens, (int, float)):
        return None
    return seconds / (steps * batch * tokens)


def calibrate(spec: StudySpec, storage: str | None, devices: str | None, progress) -> Pace:
    """Time CALIBRATION_STEPS steps of one trial, run by the real worker as any trial (nothing is stored)."""
    from hpsearch.run import preflight
    from hpsearch.run.alone import run_to_end
    from hpsearch.spec.suggest import configuration, sample
    from hpsearch.train.process import train_trial
    from hpsearch.trial import TrialJob

    if TASKS[spec.task.type].custom:
        raise UsageError("--calibrate times the steps of a built-in task; a custom task's cost is its own code's")
    if spec.decode_only:
        raise UsageError("--calibrate times training steps, and a decoding-only study trains nothing (run it: "
                         "show reports what its trials spent generating)")
    short = replace(spec, fixed={**spec.fixed, "max_steps": CALIBRATION_STEPS},
                    task=spec.task.model_copy(update={"eval_every": CALIBRATION_STEPS}))
    plan = preflight.check(short, storage, devices, progress)
    config = configuration(short.fixed, sample(short, 1)[0])
    job = TrialJob(plan.spec, 0, config, folders.cache_dir(plan.url), None, **plan.slots[0])
    ended = run_to_end(train_trial, job, name="calibration")
    result = ended.result
    pace = None if result is None else _pace({**result.attrs(), "config": config})
    if pace is None:
        raise StudyError(f"the calibration trial failed: {ended.error or 'it trained no step'}")
    return Pace([pace], result.setup_seconds or 0.0, None,
                f"from one calibration trial of {result.stop_step} steps on {result.device} (its first steps are "
                "the slowest: the figure leans high)")


def estimate(spec: StudySpec, pace: Pace | None, n_jobs: int | None = None) -> dict:
    """The expected compute of the study as a record: seconds (low, mid, high) on this machine and device hours."""
    if TASKS[spec.task.type].custom:  # the user's own code: its pace is not steps x examples x tokens
        return {"trials": spec.study.n_trials, "custom": True}
    if spec.decode_only:  # nothing trains: no steps to count
        return {"trials": spec.study.n_trials, "decoding": True}
    plan = budget(spec)
    record = {"trials": plan.trials, "steps": plan.steps, "steps_from": plan.how, "examples": plan.examples,
              "tokens": plan.tokens, "basis": pace.basis if pace else None}
    if pace is None or plan.steps is None:
        return record
    ordered = sorted(pace.per_token)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) >= 4 else [ordered[0], 0, ordered[-1]]
    saved = pace.saved or 0.0
    work = plan.trials * plan.steps * plan.examples * plan.tokens * (1 - saved)
    device = [work * rate + plan.trials * pace.setup for rate in (quartiles[0], statistics.median(ordered),
                                                                  quartiles[-1])]
    jobs = n_jobs or spec.study.n_jobs
    record.update(device_seconds=device, machine_seconds=[s / jobs for s in device], n_jobs=jobs, saved=saved,
                  saved_known=pace.saved is not None,
                  step_seconds=statistics.median(ordered) * plan.examples * plan.tokens, setup_seconds=pace.setup)
    return record


def describe(record: dict) -> list[str]:
    """The estimate as lines for a person: the work, its basis, time on this machine, device hours."""
    if record.get("custom"):
        return [f"expected compute: {record['trials']} trials of your own training function, which hpsearch cannot "
                "time beforehand (show reports what the trials spent)"]
    if record.get("decoding"):
        return [f"expected compute: {record['trials']} trials that train nothing, each generating for every "
                "evaluation prompt, which hpsearch does not time beforehand (show reports what the trials spent)"]
    lines = [f"expected compute: {record['trials']} trials x {record['steps'] or '?'} steps "
             f"({record['steps_from']}; {record['examples']:g} examples x {record['tokens']:g} tokens a step)"]
    if record.get("basis") is None:
        return lines + ["  no earlier trials of this model in the database to time it by: add --calibrate to time "
                        f"{CALIBRATION_STEPS} steps of one trial"]
    if "device_seconds" not in record:
        return lines + [f"  {record['basis']}; the steps of a trial are unknown, so is the total"]
    low, mid, high = record["machine_seconds"]
    dlow, dmid, dhigh = (s / 3600 for s in record["device_seconds"])
    saving = (f"{record['saved']:.0%} of the planned steps saved by pruning and early stopping, as in those trials"
              if record["saved_known"] else "no saving from pruning assumed (none known)")
    return lines + [f"  {record['basis']}: {record['step_seconds']:.3g} s a step, {record['setup_seconds']:.1f} s "
                    f"setup a trial; {saving}",
                    f"  about {duration(mid)} on this machine ({_range(duration(low), duration(high))}"
                    f"{record['n_jobs']} trial{'s' if record['n_jobs'] > 1 else ''} at a time), "
                    f"{dmid:.2g} device hours{_range(f'{dlow:.2g}', f'{dhigh:.2g}', ' (', ')')}"]


def _range(low: str, high: str, before: str = "", after: str = ", ") -> str:
    """`low .. high`, or nothing for one measurement."""
    return "" if low == high else f"{before}{low} .. {high}{after}"


def spent(study: optuna.Study) -> tuple[float, float | None]:
    """What a study's trials really cost: device seconds (setup, training, generating), and wall seconds from the
    first trial's start to the last one's end (pauses between runs included)."""
    trials = study.get_trials(deepcopy=False)
    device = sum(sum(t.user_attrs.get(name) or 0 for name in ("setup_seconds", "train_seconds", "decode_seconds"))
                 for t in trials)
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    return device, wall


def cost_line(study: optuna.Study) -> str:
    """`show`'s cost line: the estimate stored when the study first ran, beside what its trials really spent."""
    record = study.user_attrs.get(ATTR_ESTIMATE)
    device, wall = spent(study)
    spent_text = f"spent {device / 3600:.2g} device hours" + (
        f", {duration(wall)} from the first trial's start to the last one's end" if wall is not None else "")
    if not isinstance(record, dict) or "device_seconds" not in record:
        reason = "no estimate (the study ran before hpsearch made them, or had nothing to time it by)"
        return f"cost: {spent_text}; {reason if record is None else 'estimated: nothing to time it by'}"
    low, mid, high = (s / 3600 for s in record["device_seconds"])
    return f"cost: estimated {mid:.2g} device hours ({low:.2g} .. {high:.2g}; {record['basis']}), {spent_text}"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 1e4 else f"{hours:.2g} h"  # a year is 8760 h; beyond, the digits say nothing

