"""A trial's run in the user's experiment tracker (`task.report_to`): named after the study and the trial,
grouped by study. The logging is transformers' own integration callbacks; this sets what they read.

Runs inside the trial's own process, so the environment variables set here reach no other trial.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hpsearch.trial import TrialJob


def arguments(job: TrialJob) -> dict[str, Any]:
    """The TrainingArguments fields of the trial's logging; with trackers, their environment set for this trial.

    Without trackers nothing is logged (the study records every evaluation itself). With them, the training
    loss is logged at every evaluation too, so the tracker shows both curves.
    """
    names = list(job.spec.task.report_to)
    if not names:
        return {"report_to": "none", "logging_strategy": "no"}
    study = job.spec.study.name
    if "tensorboard" in names and job.log_dir is not None:
        # store.folders.log_dir: `tensorboard --logdir studies/runs` shows every study
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(job.log_dir)
    if "mlflow" in names:
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", study)  # the user's own experiment wins
        os.environ["MLFLOW_TAGS"] = json.dumps({**_json_object(os.environ.get("MLFLOW_TAGS")),
                                                "hpsearch.study": study, "hpsearch.trial": str(job.number)})
    if "wandb" in names:
        os.environ.setdefault("WANDB_PROJECT", "hpsearch")  # the user's own project wins
        os.environ["WANDB_RUN_GROUP"] = study
    return {"report_to": names, "run_name": f"{study}-trial-{job.number}", "logging_strategy": "steps",
            "logging_steps": job.spec.task.eval_every}


def _json_object(text: str | None) -> dict[str, Any]:
    """The user's own MLFLOW_TAGS, kept beside hpsearch's; nothing when unset or not a JSON object."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
