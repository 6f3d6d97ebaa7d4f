"""Reading a stored study from Python: what `hpsearch.load` and `hpsearch.best` call, and the CLI's `show`,
`best`, `export` and `report` too.

A study is opened without creating its database, read-only unless the caller records something (confirm),
so looking changes nothing. Errors are the CLI's: no such study, or no complete trial yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.errors import HpsearchError, UsageError
from hpsearch.results import summary
from hpsearch.spec.space import StudySpec
from hpsearch.spec.storage_url import default_storage, redact
from hpsearch.store.best import best_trials
from hpsearch.store.stored_spec import load_stored_spec
from hpsearch.store.stored_trial import StoredTrial
from hpsearch.store.studies import storage_for


@dataclass
class StoredStudy:
    """A study as its database holds it: the space it was made with, and Optuna's study with every trial."""

    name: str
    storage: str  # the database URL, its password hidden
    spec: StudySpec
    study: optuna.Study  # Optuna's own: for optuna.visualization, trials_dataframe(), ...

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, in order; each carries what hpsearch recorded in its user_attrs (history, config, ...)."""
        return self.study.get_trials(deepcopy=False)

    def states(self) -> dict[str, int]:
        """How many trials are in each state: {"COMPLETE": 3, "PRUNED": 1}."""
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        return counts

    @property
    def finished(self) -> int:
        """Complete and pruned trials: what n_trials counts."""
        return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in self.trials)

    def best_trials(self) -> list[FrozenTrial]:
        """The best (feasible) trial, or the Pareto front with several objectives; [] before any is complete."""
        return best_trials(self.study)

    def ranked(self) -> list[FrozenTrial]:
        """Complete trials, best first (single objective)."""
        return summary.ranked(self.study)

    def cost_line(self) -> str:
        """The estimate stored when the study first ran, beside what its trials really spent."""
        from hpsearch.run.estimate import cost_line

        return cost_line(self.study)

    def started_with(self) -> list[FrozenTrial]:
        """The trials that ran a known configuration (study.start_with, --start-with), in order."""
        return [t for t in self.trials if StoredTrial(t).start_with]


def open_study(name: str, storage: str | None = None, read_only: bool = True) -> optuna.Study:
    """Optuna's study `name` in `storage` (default: $HPSEARCH_STORAGE, else studies/hpsearch.db), never created."""
    return summary.load(storage_for(storage or default_storage(), create=False, read_only=read_only), name)


def load(name: str, storage: str | None = None, read_only: bool = True) -> StoredStudy:
    """Study `name` with the space it was made with and its trials; what `hpsearch show` reads (and, opened for
    writing, what `hpsearch confirm` records its runs in)."""
    url = storage or default_storage()
    storage_ = storage_for(url, create=False, read_only=read_only)
    study = summary.load(storage_, name)
    return StoredStudy(name, redact(url), load_stored_spec(name, storage_), study)


def best(name: str, storage: str | None = None) -> dict[str, Any]:
    """The best trial of study `name`, as `hpsearch best -f json` prints it: its objectives, searched values,
    every value it used (`config`), its metrics and kept model. With several objectives:
    {"pareto_front": [one such record per trial]}."""
    study = open_study(name, storage)
    return summary.best_data(study, best_trials(study, required=True))


def best_as(name: str, storage: str | None, format: str) -> tuple[str, dict[str, Any]]:
    """What `hpsearch best NAME -f FORMAT` writes (yaml, json or args), the study opened once; with `args`, also
    the values that are no TrainingArguments field (they apply to the model, the data and the loss). A sft
    study's args are its SFTConfig: TrainingArguments' fields and TRL's own (max_length, packing, the loss mask)."""
    storage_ = storage_for(storage or default_storage(), create=False, read_only=True)
    study = summary.load(storage_, name)
    found = best_trials(study, required=True)
    if format != "args":
        return summary.best_text(study, found, format), {}
    spec = _stored_spec(storage_, name)
    task_type = spec.task.type if spec is not None else None
    if task_type == "custom":
        raise UsageError(f"--format args writes transformers' TrainingArguments, which study {name!r}'s custom "
                         "training function does not take; use -f json or -f yaml (its 'config' is every value "
                         "the trial used)")
    config = StoredTrial(found[0]).config
    extra = _sft_arguments(spec, config) if task_type == "sft" else {}
    others = {k: v for k, v in summary.not_trainer_arguments(config).items() if not (extra and k in SFT_FIELDS)}
    return summary.best_text(study, found, format, extra), others


# the catalogue entries a sft trial's SFTConfig carries (train/arguments.py::sft_kwargs): nothing to apply by hand
SFT_FIELDS = ("sequence_length", "packing", "gradient_checkpointing", "neftune_noise_alpha")


def _sft_arguments(spec: StudySpec, config: dict[str, Any]) -> dict[str, Any]:
    """The SFTConfig fields beyond TrainingArguments' that a sft trial trained with; which loss mask it used
    follows the data's form (task.dataset.format, or the columns of the data, read again)."""
    from hpsearch.train import data, sft_data
    from hpsearch.train.arguments import completion_only, sft_kwargs

    dataset = spec.task.dataset
    form = dataset.format
    if form == "auto":
        train, _, _ = data.frames(dataset, spec.base_dir, ())
        form = sft_data.detect(dataset, train.columns)
    return sft_kwargs(config, form, completion_only(spec.task, form))


def _stored_spec(storage: optuna.storages.BaseStorage, name: str) -> StudySpec | None:
    """The space study `name` was made with; None for a study hpsearch did not make."""
    try:
        return load_stored_spec(name, storage)
    except HpsearchError:
        return None
