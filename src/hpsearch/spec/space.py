"""A search-space file -> a validated StudySpec, or a SpaceError listing every problem with its line.

Validation happens here, where the spec is built, so nothing later needs to re-check the file. In order:
the reader parses the YAML with the line of every key (hpsearch.spec.reader); each section is read
(hpsearch.spec.sections: the schema for study: and task:, the catalogue for fixed: and space:); the space
is normalised (hpsearch.spec.normalise); the rules across sections run (hpsearch.spec.rules). Every
finding goes to one collector, which names its file and line. Nothing here touches a database or imports
torch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpsearch.errors import Problem, SpaceError
from hpsearch.search.build import PluginOptions
from hpsearch.spec import catalog, normalise, objectives, reader, recommended, rules, trackers
from hpsearch.spec.collector import Collector, problem_at
from hpsearch.spec.entry import Entry, grid_space
from hpsearch.spec.schema import MAX_JOBS, MAX_TRIALS, MAX_TRIALS_PER_GPU, StudyConfig, TaskConfig, parse_duration
from hpsearch.spec.sections import SECTIONS, read_sections
from hpsearch.spec.storage_url import DEFAULT_STORAGE, STORAGE_ENV
from hpsearch.spec.tasks import TASKS


@dataclass(frozen=True)
class StudySpec:
    """A validated search-space file: everything a study needs, and the text it came from."""

    file: str
    text: str
    study: StudyConfig
    task: TaskConfig
    fixed: dict[str, Any]
    space: dict[str, Entry]  # ordered so that every entry comes after those its `when` names
    warnings: tuple[Problem, ...] = field(default=())
    base_dir: str = "."
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE assignments applied over the file's text
    setting: recommended.Setting = field(default_factory=recommended.Setting)  # what the priors depend on
    # the reader's document of `text` and `overrides`, kept from validation so that no later step reads the YAML
    # again; it travels with the spec to worker processes, and takes no part in comparing specs (a replace()
    # that changes the text or the overrides must pass _document=None)
    _document: reader.Document | None = field(default=None, compare=False, repr=False)

    @property
    def document(self) -> reader.Document:
        """The file as read: its data with --set applied, and the line of every key (read again from `text`
        for a spec built without it)."""
        if self._document is None:
            object.__setattr__(self, "_document", reader.parse(self.text, self.overrides))  # frozen: a cache
        return self._document

    @property
    def objectives(self) -> tuple[objectives.Objective, ...]:
        """What the study optimizes, in the file's order."""
        return objectives.objectives(self.study.metric, self.study.direction, self.task.type)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def decode_only(self) -> bool:
        """A generation study that tunes decoding alone: its trials generate and score, and train nothing."""
        names = set(self.fixed) | set(self.space)
        return TASKS[self.task.type].generates and bool(names) and all(
            catalog.CATALOG[n].generation_only for n in names)

    @property
    def metric(self) -> str:
        """The evaluation metric watched while training (pruning, early stopping, the kept model)."""
        return objectives.watched(self.objectives, self.task.type).name

    @property
    def direction(self) -> str:
        return objectives.watched(self.objectives, self.task.type).direction

    def improves(self, value: float, best: float | None) -> bool:
        """Whether `value` beats `best` (None: nothing to beat) in the study's direction."""
        if best is None:
            return True
        return value > best if self.direction == "maximize" else value < best

    def problem(self, path: tuple, message: str) -> Problem:
        """`message` about key `path` of this spec, with the file and line it was given on (or --set)."""
        return problem_at(self.file, self.document, path, message)

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join((self.text, *self.overrides)).encode()).hexdigest()

    def storage_url(self, override: str | None = None) -> str:
        """--storage, then $HPSEARCH_STORAGE, then the file's study.storage, then the default."""
        return override or os.environ.get(STORAGE_ENV) or self.study.storage or DEFAULT_STORAGE

    def with_budget(self, n_trials: int | None = None, timeout: Any = None, n_jobs: int | None = None,
                    trials_per_gpu: int | None = None) -> StudySpec:
        """The spec with command-line budget overrides applied (validated like the file's own)."""
        problems = []
        update: dict[str, Any] = {}
        for flag, key, value, most in (("--n-trials", "n_trials", n_trials, MAX_TRIALS),
                                       ("--n-jobs", "n_jobs", n_jobs, MAX_JOBS),
                                       ("--trials-per-gpu", "trials_per_gpu", trials_per_gpu, MAX_TRIALS_PER_GPU)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(Problem(self.file, None, flag, f"must be at least 1, but got {value!r}"))
            elif value > most:
                problems.append(Problem(self.file, None, flag, f"must be at most {most}, but got {value!r}"))
            update[key] = value
        if timeout is not None:
            try:
                update["timeout"] = parse_duration(timeout)
            except ValueError as exc:
                problems.append(Problem(self.file, None, "--timeout", str(exc)))
        if problems:
            raise SpaceError(problems)
        return replace(self, study=self.study.model_copy(update=update))

    @property
    def plugin_options(self) -> PluginOptions:
        """What the study's sampler and pruner are built from (hpsearch.search.build: build_sampler, build_pruner)."""
        grid = grid_space(self.space) if self.study.sampler.get("name") == "grid" else None
        return PluginOptions(sampler=self.study.sampler, pruner=self.study.pruner, n_trials=self.study.n_trials,
                             grid=grid, priors=self.priors(), objectives=len(self.objectives), metric=self.metric,
                             eval_size=self.task.dataset.eval_size)

    def priors(self) -> dict[str, Any]:
        """Entry name -> Prior, for every searched entry that has one (the file's own, or the literature's)."""
        return {name: entry.prior for name, entry in self.space.items() if entry.prior is not None}

    def describe_priors(self) -> str:
        """One line: the setting and where the default sampler looks first, for `show` and `--dry-run`."""
        beliefs = self.priors()
        # a custom task's training is the user's own, and a decoding-only study trains nothing: no fine-tuning
        # setting, only the file's priors
        plain = self.task.type == "custom" or self.decode_only
        setting = "priors" if plain else f"priors ({self.setting.describe()})"
        if not beliefs:
            return f"{setting}: none"
        return f"{setting}: " + ", ".join(f"{n} {p.describe()}" for n, p in beliefs.items())


def load_space(path: str | os.PathLike, overrides: tuple[str, ...] | list[str] = ()) -> StudySpec:
    """Read and validate a search-space file, with `KEY.PATH=VALUE` overrides; SpaceError lists every problem."""
    text = reader.read(path)  # a regular file of bounded size only: never a device or a pipe
    spec = load_text(text, file=str(path), base_dir=str(Path(path).parent), overrides=overrides)
    trackers.check_installed(spec)  # this machine's packages: checked for a file given here, not a stored one
    return spec


def load_text(text: str, file: str = "<string>", base_dir: str = ".",
              overrides: tuple[str, ...] | list[str] = ()) -> StudySpec:
    """Validate search-space YAML `text` (with --set `overrides` applied); `file` names it in messages."""
    # 1. the YAML, with the line of every key; nothing more can be said of a file that is not a mapping
    document = reader.parse(text, overrides)
    collector = Collector(file, document)
    if document.problems and document.data is None:
        raise SpaceError(collector.errors)
    if not isinstance(document.data, dict):
        what = "empty" if document.data is None else f"a {type(document.data).__name__}"
        collector.add([((), f"the file is {what}; it must be a mapping with the keys {', '.join(SECTIONS)}")])
        raise SpaceError(collector.errors)
    # 2. each section on its own, then the space in its explicit form, so the rules see what will be sampled
    sections, errors, warnings = read_sections(document.data, base_dir)
    collector.add(errors)
    collector.add(warnings, warning=True)
    sections = replace(sections, space=normalise.implicit_conditions(sections.fixed, sections.space))
    # 3. the rules across sections; every problem is reported at once
    for rule in rules.ERRORS:
        collector.add(rule(sections))
    for rule in rules.WARNINGS:
        collector.add(rule(sections), warning=True)
    if collector.errors or sections.study is None or sections.task is None:
        raise SpaceError(collector.errors)
    ordered, _ = normalise.dependency_order(sections.space)
    return StudySpec(file, text, sections.study, sections.task, sections.fixed, ordered,
                     warnings=tuple(collector.warnings), base_dir=base_dir, overrides=tuple(overrides),
                     setting=sections.setting, _document=document)
