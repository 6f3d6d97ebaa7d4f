"""train: what one trial does inside its own process: the task's model and data, TrainingArguments from
the sampled values, LoRA, and the scores of generated text.

Owns: `tasks/` (one module per task type; the names live in hpsearch.spec.tasks), `data`, `arguments`,
`lora`, `scores`.
May import: hpsearch.numbers, hpsearch.errors, hpsearch.search, hpsearch.spec, torch, transformers, datasets, peft.
Never the database: a trial reports to the study process, which alone writes.
"""
