"""Each rule across sections, by a table: a YAML snippet -> the findings it earns (`key.path: message`)."""

import inspect
import textwrap
from dataclasses import replace

import pytest

from hpsearch.errors import SpaceError
from hpsearch.spec import rules
from hpsearch.spec.collector import dotted
from hpsearch.spec.normalise import implicit_conditions
from hpsearch.spec.reader import parse
from hpsearch.spec.sections import Sections, read_sections
from hpsearch.spec.space import load_text

STUDY = "study: {name: t}\n"
TASK = "task: {dataset: {path: a.csv}}\n"
BASE = STUDY + TASK
GENERATION = "study: {name: t, metric: eval_chrf}\ntask: {type: generation, dataset: {path: a.csv}"
MULTI = "study: {name: t, metric: [eval_accuracy, eval_loss], direction: [maximize, minimize]"
GRID = "study: {name: t, sampler: grid}\n" + TASK


def findings(rule, text: str) -> list[str]:
    """What `rule` finds in the snippet, read and normalised as load_text does (the snippet reads cleanly)."""
    document = parse(textwrap.dedent(text))
    sections, errors, _ = read_sections(document.data, ".")
    assert errors == []
    sections = replace(sections, space=implicit_conditions(sections.fixed, sections.space))
    return [f"{dotted(path)}: {message}" for path, message in rule(sections)]


CASES = [
    # task_and_dataset
    (rules.task_and_dataset, BASE, []),
    (rules.task_and_dataset, STUDY + "task: {type: classification, dataset: {path: a.csv}}\n",
     ["task.type: unknown task type 'classification' (did you mean sequence-classification?)"]),
    (rules.task_and_dataset, STUDY + "task: {dataset: {path: a.csv, hub: b/c}}\n",
     ["task.dataset: needs exactly one of name, path, hub, but got path and hub"]),
    (rules.task_and_dataset, STUDY + "task: {dataset: {train_size: 3}}\n",
     ["task.dataset: needs exactly one of name, path, hub, but got none"]),
    (rules.task_and_dataset, STUDY + "task: {dataset: {name: tweets}}\n",
     ["task.dataset.name: unknown built-in data set 'tweets' (did you mean tweets-sentiment?) (path: or hub: for "
      "others)"]),
    # generation_keys
    (rules.generation_keys, STUDY + "task: {dataset: {path: a.csv}, max_new_tokens: 8, from_study: s}\n",
     ["task.max_new_tokens: acts only for task.type: generation (remove it, or set the type)",
      "task.from_study: acts only for task.type: generation (remove it, or set the type)"]),
    (rules.generation_keys, GENERATION + ", from_study: s}\nspace: {learning_rate: documented}\n",
     ["task.from_study: decodes a trained model: the space may then hold only decoding entries (temperature, top_p, "
      "top_k); move the others out"]),
    (rules.generation_keys, GENERATION + ", from_study: s}\nspace: {temperature: documented}\n", []),
    # sft_keys
    (rules.sft_keys, STUDY + "task: {dataset: {path: a.csv}, chat_template: t.jinja, completion_only_loss: false}\n",
     ["task.chat_template: acts only for task.type: sft (remove it, or set the type)",
      "task.completion_only_loss: acts only for task.type: sft (remove it, or set the type)"]),
    (rules.sft_keys, STUDY + "task: {type: generation, dataset: {path: a.csv, format: messages, messages_column: m, "
     "completion_column: c}}\n",
     ["task.dataset.format: acts only for task.type: sft (remove it, or set the type)",
      "task.dataset.messages_column: acts only for task.type: sft (remove it, or set the type)",
      "task.dataset.completion_column: acts only for task.type: sft (remove it, or set the type)"]),
    (rules.sft_keys, STUDY + "task: {type: custom, entry: 'train.py:main', completion_only_loss: true}\n",
     ["task.completion_only_loss: acts only for task.type: sft (remove it, or set the type)"]),
    (rules.sft_keys, STUDY + "task: {type: sft, dataset: {path: a.jsonl, format: messages}, chat_template: t.jinja, "
     "completion_only_loss: false}\n", []),
    (rules.sft_keys, STUDY + "task: {type: generation, dataset: {path: a.csv, prompt_column: p}}\n", []),
    # objectives_fit
    (rules.objectives_fit, "study: {name: t, metric: eval_acc}\n" + TASK,
     ["study.metric: unknown metric of sequence-classification 'eval_acc' (did you mean eval_accuracy?)"]),
    (rules.objectives_fit, MULTI + ", sampler: cmaes}\n" + TASK,
     ["study.sampler: the cmaes sampler handles one objective only (use tpe, nsga2, gp, random or qmc for several)"]),
    (rules.objectives_fit, MULTI + "}\n" + TASK, []),
    # generation_only_entries
    (rules.generation_only_entries, BASE + "fixed: {temperature: 0.7}\nspace: {top_k: documented}\n",
     ["fixed.temperature: acts only when the task generates text, and sequence-classification does not (use "
      "task.type: generation, or remove it)",
      "space.top_k: acts only when the task generates text, and sequence-classification does not (use "
      "task.type: generation, or remove it)"]),
    (rules.generation_only_entries, GENERATION + "}\nspace: {top_k: documented}\n", []),
    # losses_fit_labels
    (rules.losses_fit_labels, BASE + "fixed: {loss: mse}\n",
     ["fixed.loss: mse does not fit sequence-classification (it takes cross_entropy, label_smoothed_cross_entropy, "
      "focal, class_weighted_cross_entropy)"]),
    (rules.losses_fit_labels, STUDY + "task: {type: sequence-regression, dataset: {path: a.csv}}\n"
                                      "space: {loss: {choices: [focal, mse]}}\n",
     ["space.loss: focal does not fit sequence-regression (it takes mse, huber)"]),
    (rules.losses_fit_labels, STUDY + "task: {type: sequence-regression, dataset: {path: a.csv}}\n"
                                      "space: {loss: {choices: [focal, mse, cross_entropy]}}\n",
     ["space.loss: focal, cross_entropy do not fit sequence-regression (it takes mse, huber)"]),
    (rules.losses_fit_labels, BASE + "space: {loss: {choices: [focal, cross_entropy]}}\n", []),
    # lora_entries
    (rules.lora_entries, BASE + "fixed: {lora_alpha: 16}\nspace: {lora_r: {low: 4, high: 16}}\n",
     ["fixed.lora_alpha: acts only in a LoRA fine-tune (add peft: lora under task:, or remove it)",
      "space.lora_r: acts only in a LoRA fine-tune (add peft: lora under task:, or remove it)"]),
    (rules.lora_entries, STUDY + "task: {dataset: {path: a.csv}, peft: lora}\nspace: {lora_r: {low: 4, high: 16}}\n", []),
    # task_entries
    (rules.task_entries, BASE + "fixed: {packing: true}\nspace: {neftune_noise_alpha: {low: 5, high: 15}}\n",
     ["fixed.packing: acts only in a task of type sft (this one is sequence-classification)",
      "space.neftune_noise_alpha: acts only in a task of type sft (this one is sequence-classification)"]),
    (rules.task_entries, STUDY + "task: {type: sft, model: m, dataset: {path: a.jsonl}}\n"
                                 "fixed: {packing: true, gradient_checkpointing: true}\n", []),
    # fixed_or_searched
    (rules.fixed_or_searched, BASE + "fixed: {dropout: 0.1}\nspace: {dropout: documented}\n",
     ["space.dropout: is also under fixed: (keep it in one place)"]),
    # parent_choices
    (rules.parent_choices, BASE + "fixed: {optimizer: adamw}\nspace: {momentum: documented}\n",
     ["space.momentum: momentum acts only when optimizer is sgd, but fixed.optimizer is adamw (remove it)"]),
    (rules.parent_choices, BASE + "space: {optimizer: {choices: [adamw, adafactor]}, momentum: documented}\n",
     ["space.momentum: momentum acts only when optimizer is sgd, which space.optimizer never samples (remove it)"]),
    (rules.parent_choices, BASE + "fixed: {momentum: 0.9}\nspace: {optimizer: {choices: [sgd, adamw]}}\n",
     ["fixed.momentum: momentum acts only when optimizer is sgd, but optimizer is searched (move momentum under "
      "space: so it is sampled only then)"]),
    (rules.parent_choices, BASE + "space:\n  optimizer: {choices: [sgd, adamw]}\n"
                                  "  momentum: {documented: true, when: {optimizer: [sgd, adamw]}}\n",
     ["space.momentum.when.optimizer: momentum acts only when optimizer is sgd, not under ['adamw'] (remove them)"]),
    (rules.parent_choices, BASE + "fixed: {focal_gamma: 2.0}\n",
     ["fixed.focal_gamma: focal_gamma acts only when loss is focal, and loss is left at its default cross_entropy "
      "(set it under fixed: or space:)"]),
    (rules.parent_choices, BASE + "space: {optimizer: {choices: [sgd, adamw]}, momentum: documented}\n", []),
    (rules.parent_choices, BASE + "fixed: {optimizer: sgd}\nspace: {momentum: documented}\n", []),
    # conditions
    (rules.conditions, BASE + "space: {optimizer: {choices: [sgd, adamw], when: {optimizer: sgd}}}\n",
     ["space.optimizer.when.optimizer: an entry cannot depend on itself"]),
    (rules.conditions, BASE + "space: {optimizer: {choices: [sgd]}, dropout: {low: 0.1, high: 0.2, "
                              "when: {optimiser: sgd}}}\n",
     ["space.dropout.when.optimiser: unknown entry 'optimiser' (did you mean optimizer?)"]),
    (rules.conditions, BASE + "fixed: {optimizer: sgd}\nspace: {dropout: {low: 0.1, high: 0.2, "
                              "when: {optimizer: sgd}}}\n",
     ["space.dropout.when.optimizer: names optimizer, which is not searched, so the condition never changes (drop "
      "it, or add it under space:)"]),
    (rules.conditions, BASE + "space: {dropout: documented, weight_decay: {low: 0.001, high: 0.1, "
                              "when: {dropout: 0.1}}}\n",
     ["space.weight_decay.when.dropout: dropout is not categorical; conditions need an entry with choices"]),
    (rules.conditions, BASE + "space: {optimizer: {choices: [sgd, adamw]}, dropout: {low: 0.1, high: 0.2, "
                              "when: {optimizer: adafactor}}}\n",
     ["space.dropout.when.optimizer: ['adafactor'] not among the choices of optimizer (sgd, adamw)"]),
    (rules.conditions, BASE + "space: {optimizer: {choices: [sgd, adamw]}, momentum: documented}\n", []),
    # condition_cycles
    (rules.condition_cycles, BASE + "space:\n  optimizer: {choices: [sgd, adamw], when: {loss: focal}}\n"
                                    "  loss: {choices: [focal, cross_entropy], when: {optimizer: sgd}}\n",
     ["space.optimizer.when: conditions form a cycle (an entry depends on itself)"]),
    (rules.condition_cycles, BASE + "space:\n  loss: {choices: [focal, cross_entropy], when: {optimizer: sgd}}\n"
                                    "  optimizer: {choices: [sgd, adamw]}\n", []),
    # grid_entries
    (rules.grid_entries, GRID + "space: {dropout: documented, optimizer: documented}\n",
     ["space.dropout: the grid sampler needs choices or a step on a float entry (add step: or choices:)"]),
    (rules.grid_entries, GRID + "space: {dropout: {low: 0.1, high: 0.3, step: 0.1}}\n", []),
    # plugin_options
    (rules.plugin_options, "study: {name: t, sampler: {name: tpee}}\n" + TASK,
     ["study.sampler.name: unknown sampler 'tpee' (did you mean tpe?)"]),
    (rules.plugin_options, "study: {name: t, sampler: {name: random, sed: 3}}\n" + TASK,
     ["study.sampler.sed: unknown option of the random sampler 'sed' (did you mean seed?)"]),
    (rules.plugin_options, "study: {name: t, sampler: {name: tpe, priors: maybe}}\n" + TASK,
     ["study.sampler.priors: must be true or false, but got 'maybe'"]),
    (rules.plugin_options, "study: {name: t, pruner: {name: threshold, upper: .nan}}\n" + TASK,
     ["study.pruner.upper: must be a finite number, but got nan"]),
    (rules.plugin_options, "study: {name: t, pruner: {name: median, n_warmup_steps: -1}}\n" + TASK,
     ["study.pruner: the median pruner rejects these options: Number of warmup steps cannot be negative, but got "
      "n_warmup_steps=-1."]),
    (rules.plugin_options, GRID + "space: {batch_size: {low: 8, high: 24, step: 8}}\n", []),
    # warnings: untrained_decoder
    (rules.untrained_decoder, GENERATION + "}\nspace: {temperature: documented}\n",
     ["task.model: a decoding-only study trains nothing, and minilm-l6 was never trained to generate: name a "
      "trained model (a path, or from_study:)"]),
    (rules.untrained_decoder, GENERATION + ", from_study: s}\nspace: {temperature: documented}\n", []),
    (rules.untrained_decoder, GENERATION + ", model: ./mine}\nspace: {temperature: documented}\n", []),
    # unseen_metric
    (rules.unseen_metric, GENERATION + "}\nspace: {learning_rate: documented}\n",
     ["task.eval_with: evaluations during training measure eval_loss, so the plateau pruner never sees eval_chrf "
      "and will not prune (set eval_with: generation, or metric: eval_loss, or pruner: none)"]),
    (rules.unseen_metric, GENERATION + ", eval_with: generation}\nspace: {learning_rate: documented}\n", []),
    (rules.unseen_metric, "study: {name: t, metric: eval_chrf, pruner: none}\ntask: {type: generation}\n"
                          "space: {learning_rate: documented}\n", []),
    # unpruned_objectives
    (rules.unpruned_objectives, MULTI + "}\n" + TASK,
     ["study.metric: several objectives: pruning is off (Optuna cannot prune such studies), so every trial trains "
      "to its end or its early stop"]),
    (rules.unpruned_objectives, MULTI + ", pruner: none}\n" + TASK, []),
    # grid_conditions
    (rules.grid_conditions, GRID + "space: {optimizer: {choices: [sgd, adamw]}, "
                                   "momentum: {low: 0.8, high: 0.9, step: 0.1}}\n",
     ["study.sampler: the grid sampler does not handle when: conditions (use another sampler, or drop the "
      "conditions)"]),
    (rules.grid_conditions, GRID + "space: {optimizer: {choices: [sgd, adamw]}}\n", []),
    # custom_entry (the custom task's own table: tests/spec/test_custom.py)
    (rules.custom_entry, "study: {name: t}\ntask: {type: custom, entry: train.py:main}\n", []),
    (rules.custom_entry, "study: {name: t}\ntask: {type: custom, entry: train.py, eval_every: 5}\n",
     ["task.eval_every: acts only for hpsearch's built-in task types; your training function loads its own model and "
      "data (remove it)",
      "task.entry: must name a function as \"my_pkg.train:main\" (an importable module) or \"train.py:main\" (a file "
      "beside the space file), but got 'train.py'"]),
    (rules.custom_entry, STUDY + "task: {dataset: {path: a.csv}, entry: train.py:main}\n",
     ["task.entry: names the training function of task.type: custom (set the type, or remove it)"]),
    # start_with_fits (the full table: tests/spec/test_start_with.py)
    (rules.start_with_fits, "study: {name: t, start_with: [{dropout: 0.2}]}\n" + TASK + "space: {dropout: documented}\n",
     []),
    (rules.start_with_fits, "study: {name: t, start_with: [{dropout: 0.7}]}\n" + TASK + "space: {dropout: documented}\n",
     ["study.start_with.0.dropout: (0.7) lies outside the searched range 0.1 .. 0.5"]),
    # start_with_budget
    (rules.start_with_budget, "study: {name: t, n_trials: 1, start_with: [{dropout: 0.2}, {dropout: 0.3}]}\n" + TASK,
     ["study.start_with: lists 2 configurations, and n_trials is 1: only the first 1 run"]),
    (rules.start_with_budget, "study: {name: t, n_trials: 2, start_with: [{dropout: 0.2}, {dropout: 0.3}]}\n" + TASK,
     []),
    # warm_start_sources (the full table: tests/spec/test_warm_start.py)
    (rules.warm_start_sources, "study: {name: t, sampler: tpe, warm_start: {from: [a]}}\n" + TASK, []),
    (rules.warm_start_sources, "study: {name: t, sampler: tpe, warm_start: {from: [a, t]}}\n" + TASK,
     ["study.warm_start.from.1: t is this study itself; its own trials inform it already"]),
]


@pytest.mark.parametrize("rule, text, expected", CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_rule(rule, text, expected):
    assert findings(rule, text) == expected


def test_every_rule_is_listed_once_and_has_a_table():
    defined = {f for name, f in vars(rules).items() if inspect.isfunction(f) and not name.startswith("_")
               and list(inspect.signature(f).parameters) == ["s"]}
    listed = list(rules.ERRORS) + list(rules.WARNINGS)
    assert len(listed) == len(set(listed)) and set(listed) == defined
    assert {case[0] for case in CASES} == defined


@pytest.mark.parametrize("rule", list(rules.ERRORS) + list(rules.WARNINGS))
def test_a_rule_says_nothing_of_a_section_that_could_not_be_read(rule):
    assert rule(Sections({})) == []


def test_load_text_reports_each_rule_in_the_order_they_are_listed():
    text = BASE + "fixed: {temperature: 0.7, lora_r: 8, dropout: 0.1}\nspace: {dropout: documented, momentum: documented}\n"
    with pytest.raises(SpaceError) as info:
        load_text(text, file="f.yaml")
    assert [str(p) for p in info.value.problems] == [
        "f.yaml:3: fixed.temperature: " + findings(rules.generation_only_entries, text)[0].split(": ", 1)[1],
        "f.yaml:3: fixed.lora_r: acts only in a LoRA fine-tune (add peft: lora under task:, or remove it)",
        "f.yaml:4: space.dropout: is also under fixed: (keep it in one place)",
        "f.yaml:4: space.momentum: momentum acts only when optimizer is sgd, and optimizer is left at its default "
        "adamw (set it under fixed: or space:)",
    ]
