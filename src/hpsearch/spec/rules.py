"""The rules a search-space file must follow across its sections, each a pure function of what it reads.

Every rule takes the file's `Sections` (read and normalised) and returns `Finding`s: a key path and a
message, [] when all is well or when what it checks could not be read (that section's own problem has
been reported). `ERRORS` and `WARNINGS` list them in the order their findings are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from hpsearch.errors import PluginError, unknown
from hpsearch.search import registry as plugins
from hpsearch.search.build import PluginOptions, build_pruner, build_sampler
from hpsearch.spec import catalog, custom, objectives, start_with, warm_start
from hpsearch.spec.assets import BUILTIN_DATASETS, BUILTIN_MODELS
from hpsearch.spec.collector import Finding
from hpsearch.spec.entry import grid_space
from hpsearch.spec.normalise import dependency_order
from hpsearch.spec.sections import Sections
from hpsearch.spec.tasks import TASKS

GENERATION_KEYS = ("prompt_template", "max_new_tokens", "num_samples", "eval_with", "from_study")
SFT_KEYS = ("chat_template", "completion_only_loss")
SFT_DATASET_KEYS = ("format", "messages_column", "completion_column")


# -- the task --------------------------------------------------------------------------------------
def task_and_dataset(s: Sections) -> list[Finding]:
    """A known task type, and exactly one data set: a built-in name, a path, or a Hub id."""
    if s.task is None:
        return []
    found: list[Finding] = []
    if s.task.type not in TASKS:
        found.append((("task", "type"), unknown("task type", s.task.type, list(TASKS))))
    ds = s.task.dataset
    given = [k for k in ("name", "path", "hub") if getattr(ds, k) is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        found.append((("task", "dataset"), f"needs exactly one of name, path, hub, but got {what}"))
    elif ds.name is not None and ds.name not in BUILTIN_DATASETS:
        found.append((("task", "dataset", "name"), unknown("built-in data set", ds.name, list(BUILTIN_DATASETS))
                      + " (path: or hub: for others)"))
    return found


def custom_entry(s: Sections) -> list[Finding]:
    """A custom task names its training function (hpsearch.spec.custom) and none of the built-in tasks' keys."""
    if s.task is None or s.task.type not in TASKS:
        return []
    return custom.task_problems(s.raw.get("task"), s.task.entry, TASKS[s.task.type].custom)


def generation_keys(s: Sections) -> list[Finding]:
    """The task's generation keys only on a generating task; `from_study:` only for a decoding-only space."""
    info = TASKS.get(s.task.type) if s.task is not None else None
    raw = s.raw.get("task")
    if info is None or not isinstance(raw, dict):
        return []
    if not info.generates:
        return [(("task", key), "acts only for task.type: generation (remove it, or set the type)")
                for key in GENERATION_KEYS if key in raw]
    if s.task.from_study and not _decode_only(s):
        return [(("task", "from_study"), "decodes a trained model: the space may then hold only decoding entries "
                                         "(temperature, top_p, top_k); move the others out")]
    return []


def sft_keys(s: Sections) -> list[Finding]:
    """The task's and the data set's sft keys (chat template, loss mask, TRL's data forms) only on a sft task."""
    raw = s.raw.get("task")
    if s.task is None or s.task.type == "sft" or s.task.type not in TASKS or not isinstance(raw, dict):
        return []
    dataset = raw.get("dataset") if isinstance(raw.get("dataset"), dict) else {}
    return [(path, "acts only for task.type: sft (remove it, or set the type)")
            for path in [("task", k) for k in SFT_KEYS if k in raw]
            + [("task", "dataset", k) for k in SFT_DATASET_KEYS if k in dataset]]


def untrained_decoder(s: Sections) -> list[Finding]:
    """Warning: a decoding-only study of a built-in model, which was never trained to generate."""
    if not _generating(s) or not _decode_only(s) or s.task.from_study or s.task.model not in BUILTIN_MODELS:
        return []
    return [(("task", "model"), f"a decoding-only study trains nothing, and {s.task.model} was never trained to "
                                "generate: name a trained model (a path, or from_study:)")]


def unseen_metric(s: Sections) -> list[Finding]:
    """Warning: evaluations during training measure eval_loss, so a pruner watching a generation score waits
    in vain."""
    if not _generating(s) or s.study is None or _decode_only(s) or s.task.eval_with != "loss":
        return []
    task_type = s.task.type
    metric = objectives.watched(objectives.objectives(s.study.metric, s.study.direction, task_type), task_type).name
    pruner = s.study.pruner.get("name")
    if metric == "eval_loss" or pruner == "none" or len(objectives.as_list(s.study.metric)) > 1:
        return []
    return [(("task", "eval_with"), f"evaluations during training measure eval_loss, so the {pruner} pruner "
                                    f"never sees {metric} and will not prune (set eval_with: generation, or "
                                    "metric: eval_loss, or pruner: none)")]


def _generating(s: Sections) -> bool:
    info = TASKS.get(s.task.type) if s.task is not None else None
    return info is not None and info.generates and isinstance(s.raw.get("task"), dict)


def _decode_only(s: Sections) -> bool:
    names = set(s.fixed) | set(s.space)
    return bool(names) and all(catalog.CATALOG[n].generation_only for n in names)


# -- what the study optimizes ----------------------------------------------------------------------
def objectives_fit(s: Sections) -> list[Finding]:
    """Metrics the task records, a direction each, constraints on recorded quantities, a sampler for them."""
    if s.study is None or s.task is None:
        return []
    study = s.raw["study"]
    pruner, sampler = _name(study.get("pruner")), _name(study.get("sampler"))
    found = list(objectives.problems(s.study.metric, s.study.direction, s.study.constraints, s.task.type, pruner))
    if len(objectives.as_list(s.study.metric)) > 1 and sampler in plugins.SINGLE_OBJECTIVE_SAMPLERS:
        found.append((("study", "sampler"), f"the {sampler} sampler handles one objective only (use tpe, nsga2, "
                                            "gp, random or qmc for several)"))
    return found


def unpruned_objectives(s: Sections) -> list[Finding]:
    """Warning: with several objectives and no pruner named, no trial is pruned."""
    if s.study is None or s.task is None or len(objectives.as_list(s.study.metric)) <= 1:
        return []
    if _name(s.raw["study"].get("pruner")) is not None:
        return []
    return [(("study", "metric"), "several objectives: pruning is off (Optuna cannot prune such studies), so every "
                                  "trial trains to its end or its early stop")]


def _name(config: object) -> object:
    """The plug-in a `sampler:` or `pruner:` value names (a name, or a mapping with a name)."""
    return config.get("name") if isinstance(config, dict) else config


# -- the entries -----------------------------------------------------------------------------------
def generation_only_entries(s: Sections) -> list[Finding]:
    """Decoding entries (temperature, top_p, ...) only on a task that generates text."""
    info = TASKS.get(s.task.type) if s.task is not None else None
    if info is None or info.generates or info.custom:  # a custom function may generate: its values are its own
        return []
    return [((section, name), f"acts only when the task generates text, and {s.task.type} does not (use "
                              "task.type: generation, or remove it)")
            for section, names in (("fixed", s.fixed), ("space", s.space)) for name in names
            if catalog.CATALOG[name].generation_only]


def losses_fit_labels(s: Sections) -> list[Finding]:
    """A loss must fit the task's labels: cross entropy for classes, mse / huber for numbers."""
    info = TASKS.get(s.task.type) if s.task is not None else None
    if info is None or not info.losses:
        return []
    fit = ", ".join(info.losses)
    found: list[Finding] = []
    if "loss" in s.fixed and s.fixed["loss"] not in info.losses:
        found.append((("fixed", "loss"), f"{s.fixed['loss']} does not fit {s.task.type} (it takes {fit})"))
    wrong = [c for c in s.space["loss"].choices if c not in info.losses] if "loss" in s.space else []
    if wrong:
        found.append((("space", "loss"), f"{', '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not fit "
                                         f"{s.task.type} (it takes {fit})"))
    return found


def lora_entries(s: Sections) -> list[Finding]:
    """LoRA's entries (lora_r, lora_alpha, ...) only in a LoRA fine-tune."""
    if s.task is None or s.task.peft == "lora" or (s.task.type in TASKS and TASKS[s.task.type].custom):
        return []
    return [((section, name), "acts only in a LoRA fine-tune (add peft: lora under task:, or remove it)")
            for section, names in (("fixed", s.fixed), ("space", s.space)) for name in names
            if catalog.CATALOG[name].peft]


def task_entries(s: Sections) -> list[Finding]:
    """Entries of one task type (packing, neftune_noise_alpha, ...: sft) only in a study of that type."""
    if s.task is None or (s.task.type in TASKS and TASKS[s.task.type].custom):
        return []
    return [((section, name), f"acts only in a task of type {' or '.join(hp.tasks)} (this one is {s.task.type})")
            for section, names in (("fixed", s.fixed), ("space", s.space)) for name in names
            if (hp := catalog.CATALOG[name]).tasks and s.task.type not in hp.tasks]


def fixed_or_searched(s: Sections) -> list[Finding]:
    """A hyperparameter is either fixed or searched."""
    return [(("space", name), "is also under fixed: (keep it in one place)") for name in set(s.fixed) & set(s.space)]


def parent_choices(s: Sections) -> list[Finding]:
    """Optimizer and loss parameters act only under their choice: fixed to it, sampled with it (the implicit
    `when:` the space was normalised with), or its default."""
    found: list[Finding] = []
    for section, names in (("fixed", s.fixed), ("space", s.space)):
        for name in names:
            if name in catalog.CATALOG and catalog.CATALOG[name].parent is not None:
                found += _parent_choice(s, section, name)
    return found


def _parent_choice(s: Sections, section: str, name: str) -> list[Finding]:
    parent, allowed = catalog.CATALOG[name].parent
    rule = f"{name} acts only when {parent} is {' or '.join(allowed)}"
    if parent in s.fixed:
        if s.fixed[parent] in allowed:
            return []
        return [((section, name), f"{rule}, but fixed.{parent} is {s.fixed[parent]} (remove it)")]
    if parent in s.space:
        if not any(c in allowed for c in s.space[parent].choices):
            return [((section, name), f"{rule}, which space.{parent} never samples (remove it)")]
        if section == "fixed":
            return [((section, name), f"{rule}, but {parent} is searched (move {name} under space: so it is sampled "
                                      "only then)")]
        wrong = [v for v in s.space[name].when.get(parent, ()) if v not in allowed]
        return [((section, name, "when", parent), f"{rule}, not under {wrong} (remove them)")] if wrong else []
    default = catalog.CATALOG[parent].default
    if default in allowed:
        return []
    return [((section, name), f"{rule}, and {parent} is left at its default {default} (set it under fixed: or space:)")]


def conditions(s: Sections) -> list[Finding]:
    """Every `when:` names another searched, categorical entry, and values among its choices."""
    found: list[Finding] = []
    for name, entry in s.space.items():
        for other, values in entry.when.items():
            path = ("space", name, "when", other)
            if other == name:
                found.append((path, "an entry cannot depend on itself"))
            elif other not in s.space:
                found.append((path, f"names {other}, which is not searched, so the condition never changes (drop "
                                    "it, or add it under space:)" if other in catalog.CATALOG
                              else unknown("entry", other, list(s.space))))
            elif s.space[other].kind != "categorical":
                found.append((path, f"{other} is not categorical; conditions need an entry with choices"))
            elif bad := [v for v in values if v not in s.space[other].choices]:
                found.append((path, f"{bad} not among the choices of {other} "
                                    f"({', '.join(map(str, s.space[other].choices))})"))
    return found


def condition_cycles(s: Sections) -> list[Finding]:
    """Conditions cannot form a cycle: the entries must have an order to be sampled in."""
    _, cycles = dependency_order(s.space)
    return [(("space", name, "when"), "conditions form a cycle (an entry depends on itself)") for name in cycles]


def start_with_fits(s: Sections) -> list[Finding]:
    """Every known configuration gives searched entries values they can sample (hpsearch.spec.start_with)."""
    if s.study is None or not s.study.start_with:
        return []
    _, found = start_with.check(s.study.start_with, s.space, s.fixed)
    return [(("study", "start_with") + path, message) for path, message in found]


def start_with_budget(s: Sections) -> list[Finding]:
    """Warning: more known configurations than the budget runs."""
    if s.study is None or len(s.study.start_with) <= s.study.n_trials:
        return []
    return [(("study", "start_with"), f"lists {len(s.study.start_with)} configurations, and n_trials is "
                                      f"{s.study.n_trials}: only the first {s.study.n_trials} run")]


def warm_start_sources(s: Sections) -> list[Finding]:
    """Earlier studies to learn from: never this one, once each, for a sampler that learns (spec.warm_start)."""
    if s.study is None or s.study.warm_start is None:
        return []
    found = warm_start.problems(s.study, len(objectives.as_list(s.study.metric)))
    return [(("study", "warm_start") + path, message) for path, message in found]


# -- the sampler and the pruner --------------------------------------------------------------------
def grid_entries(s: Sections) -> list[Finding]:
    """The grid sampler visits values one by one: every float entry needs choices or a step."""
    if not _grid_sampler(s):
        return []
    return [(("space", name), "the grid sampler needs choices or a step on a float entry (add step: or choices:)")
            for name, entry in s.space.items() if entry.grid_values() is None]


def grid_conditions(s: Sections) -> list[Finding]:
    """Warning: the grid sampler ignores `when:`, so it visits every combination."""
    if not _grid_sampler(s) or not any(entry.when for entry in s.space.values()):
        return []
    return [(("study", "sampler"), "the grid sampler does not handle when: conditions (use another sampler, or "
                                   "drop the conditions)")]


def plugin_options(s: Sections) -> list[Finding]:
    """Build the sampler and the pruner as a study will (hpsearch.search.build), so that Optuna's own option
    checks run at validation, once."""
    raw = s.raw.get("study")
    if not isinstance(raw, dict):
        return []
    configs = {key: _plugin_config(raw, key, default) for key, default in (("sampler", "tpe"), ("pruner", "plateau"))}
    n_trials = raw.get("n_trials", 20)
    options = PluginOptions(n_trials=n_trials if isinstance(n_trials, int) else 20,
                            grid=grid_space(s.space) if _grid_sampler(s) else None,
                            priors={name: entry.prior for name, entry in s.space.items() if entry.prior is not None})
    found: list[Finding] = []
    for kind, build in (("sampler", build_sampler), ("pruner", build_pruner)):
        if not isinstance(configs[kind], dict):
            continue  # the study model has already said what is wrong with it
        try:
            build(replace(options, **{kind: configs[kind]}))
        except PluginError as exc:
            found += exc.problems
    return found


def _plugin_config(raw_study: dict, key: str, default: str) -> object:
    config = raw_study.get(key, default)
    return {"name": config} if isinstance(config, str) else config


def _grid_sampler(s: Sections) -> bool:
    raw = s.raw.get("study")
    if not isinstance(raw, dict):
        return False
    sampler = _plugin_config(raw, "sampler", "tpe")
    return isinstance(sampler, dict) and sampler.get("name") == "grid"


Rule = Callable[[Sections], list[Finding]]

# In the order their findings are reported: the task, what is optimized, the entries, the plug-ins.
ERRORS: tuple[Rule, ...] = (
    task_and_dataset, custom_entry, generation_keys, sft_keys, objectives_fit, generation_only_entries,
    losses_fit_labels, lora_entries, task_entries, fixed_or_searched, parent_choices, conditions, condition_cycles,
    start_with_fits, warm_start_sources, grid_entries, plugin_options,
)
WARNINGS: tuple[Rule, ...] = (untrained_decoder, unseen_metric, unpruned_objectives, grid_conditions,
                              start_with_budget)
