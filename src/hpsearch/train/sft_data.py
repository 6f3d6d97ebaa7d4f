"""The data forms TRL's SFTTrainer reads, as the sft task sees them: which form the rows are (`messages`,
`prompt` / `completion`, plain `text`), their checks, and the rows renamed to TRL's columns. Pure pandas."""

from __future__ import annotations

import json
from typing import Any

from hpsearch.errors import DataError

FORMS = ("messages", "prompt-completion", "text")
ROLES = ("system", "user", "assistant", "tool")


def columns(dataset: Any, form: str) -> list[tuple[str, str]]:
    """The (task.dataset key, column) pairs a form reads."""
    if form == "messages":
        return [("messages_column", dataset.messages_column)]
    if form == "prompt-completion":
        return [("prompt_column", dataset.prompt_column or "prompt"), ("completion_column", dataset.completion_column)]
    return [("text_column", dataset.text_column)]


def detect(dataset: Any, names: Any) -> str:
    """The form named by task.dataset.format, else the first whose columns the data has (messages first)."""
    if dataset.format != "auto":
        return dataset.format
    present = set(map(str, names))
    for form in FORMS:
        if all(column in present for _, column in columns(dataset, form)):
            return form
    wanted = "; ".join(" and ".join(repr(c) for _, c in columns(dataset, form)) for form in FORMS)
    raise DataError(f"the data has none of the columns of a form TRL reads ({wanted}); its columns: "
                    f"{', '.join(sorted(present))} (name them under task.dataset, or set task.dataset.format)")


def conversation(value: Any) -> Any:
    """A messages cell as a list: JSON lines hold lists already, a CSV cell holds the list as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return list(value) if hasattr(value, "tolist") or isinstance(value, tuple) else value


def conversation_problem(value: Any) -> str | None:
    """Why a messages cell is no conversation TRL can train on, or None."""
    turns = conversation(value)
    if not isinstance(turns, list) or not turns:
        return f"holds {str(value)[:60]!r}, not a list of {{role, content}} messages"
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict) or "role" not in turn:
            return f"message {index} has no role (each message is {{role: ..., content: ...}})"
        if turn["role"] not in ROLES:
            return f"message {index} has role {turn['role']!r}, not one of {', '.join(ROLES)}"
        if not isinstance(turn.get("content"), str):
            return f"message {index} ({turn['role']}) has no text content"
    if not any(turn["role"] == "assistant" for turn in turns):
        return "has no assistant message: nothing to learn"
    return None


def row_problems(frame: Any, dataset: Any, source: str) -> list[tuple[tuple[str, ...], str]]:
    """The first bad conversation of a messages data set (row numbers from the frame's index: the rows as read),
    at task.dataset's messages_column; [] otherwise."""
    form = detect(dataset, frame.columns)
    if form != "messages":
        return []
    for label, value in frame[dataset.messages_column].sort_index().items():  # the file's order: its row numbers
        problem = conversation_problem(value)
        if problem:
            return [(("messages_column",), f"{source}: row {int(label) + 1}: {problem}")]
    return []


def rows(frame: Any, dataset: Any, form: str) -> dict[str, list]:
    """The rows under TRL's column names: messages, prompt and completion, or text. A completion that does not
    start with a space gets one, so that the prompt's last word and the completion's first stay two words."""
    if form == "messages":
        return {"messages": [conversation(v) for v in frame[dataset.messages_column].tolist()]}
    if form == "prompt-completion":
        (_, prompt), (_, completion) = columns(dataset, form)
        prompts = [str(p) for p in frame[prompt].tolist()]
        completions = [str(c) for c in frame[completion].tolist()]
        completions = [c if c[:1].isspace() or p[-1:].isspace() else " " + c 
                       for p, c in zip(prompts, completions, strict=True)]
        return {"prompt": prompts, "completion": completions}
    return {"text": [str(t) for t in frame[dataset.text_column].tolist()]}
