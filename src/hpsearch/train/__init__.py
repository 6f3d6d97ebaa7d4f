"""train: what one trial does inside its own process: the task's model and data, TrainingArguments from
the sampled values, LoRA, and the scores of generated text.

Owns: `process` (the functions a trial's process starts in), `worker` (one trial: task -> Trainer -> result),
`trainer`, `trackers`, `shared` (what the fork server builds once for a decoding-only study), `tasks/` (one module
per task type; the names live in hpsearch.spec.tasks), `data`, `arguments`, `lora`, `scores`.
May import: hpsearch.numbers, hpsearch.errors, hpsearch.trial (the job, channel and result it shares with the
study process), hpsearch.search, hpsearch.spec, torch, transformers, datasets, peft. Never the database: a trial
reports to the study process, which alone writes.
"""
