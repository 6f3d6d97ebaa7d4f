"""Read a YAML file into plain Python data plus the line of every key, refusing duplicate keys.

PyYAML keeps the last of two equal keys without a word; a search-space file with `learning_rate` twice
is a mistake the user must hear about, so mappings are built here from the composed node tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[Any, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader (no object construction) that reads `1e-5` as a number, as YAML 1.2 does.

    PyYAML follows YAML 1.1, where a float needs a dot: `1e-5` would be the string '1e-5', and a
    learning rate written the way everyone writes it would be rejected.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class Source:
    """A parsed YAML document: its data, the line of each key path, and what was wrong with it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[tuple[Path, int | None, str]] = field(default_factory=list)
    overridden: set[Path] = field(default_factory=set)  # key paths set on the command line (--set)

    def from_command_line(self, path: Path) -> bool:
        """Whether `path` (or a key above it) was set by --set rather than read from the file."""
        return any(tuple(path)[: len(o)] == o for o in self.overridden)

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one (None for a --set value)."""
        path = tuple(path)
        if self.from_command_line(path):
            return None
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def parse(text: str) -> Source:
    """Parse YAML `text`; syntax errors and duplicate keys land in `problems`, never as exceptions."""
    loader = None
    try:
        loader = _Loader(text)  # the reader already rejects control characters here
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return Source(None, problems=[((), line, f"invalid YAML: {reason} (fix the syntax)")])
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        reason = str(exc).splitlines()[0]
        return Source(None, problems=[((), None, f"invalid YAML: {reason} (remove the character)")])
    finally:
        if loader is not None:
            loader.dispose()
    source = Source(None)
    if node is not None:
        source.lines[()] = node.start_mark.line + 1
        source.data = _build(loader, node, (), source)
    return source


def override(source: Source, assignments: tuple[str, ...] | list[str]) -> None:
    """Apply command-line `KEY.PATH=VALUE` assignments to the parsed data (VALUE read as YAML)."""
    if assignments and source.data is None and not source.problems:
        source.data = {}
    for text in assignments:
        key, sep, raw = text.partition("=")
        path = tuple(part.strip() for part in key.split("."))
        if not sep or not all(path):
            source.problems.append(((), None, f"--set {text!r}: write KEY.PATH=VALUE, for example "
                                              "--set space.max_steps.high=20"))
            continue
        value = parse(raw)
        if value.problems:
            source.problems.append((path, None, f"--set value {raw!r} is not YAML ({value.problems[0][2]})"))
            continue
        if not isinstance(source.data, dict):
            continue  # the file itself is broken; its own problem says so
        node = source.data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value.data
        source.overridden.add(path)


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap")


def _build(loader: _Loader, node: yaml.Node, path: Path, source: Source) -> Any:
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        source.problems.append((path, node.start_mark.line + 1, f"invalid value: the tag {node.tag} is not "
                                                                 "allowed (plain YAML only)"))
        return None
    if isinstance(node, yaml.MappingNode):
        try:
            loader.flatten_mapping(node)  # resolves `<<: *anchor` merges the way PyYAML would
        except yaml.MarkedYAMLError as exc:
            source.problems.append((path, node.start_mark.line + 1, f"invalid YAML merge: {exc.problem}"))
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                source.problems.append((path, line, "a key must be a plain name, not a list or mapping"))
                continue
            key = _scalar(loader, key_node, path, source)
            if key in result:
                first = source.lines.get(path + (key,))
                source.problems.append(
                    (path + (key,), line, f"duplicate key (first given on line {first}; keep one of them)")
                )
                continue
            source.lines[path + (key,)] = line
            result[key] = _build(loader, value_node, path + (key,), source)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            source.lines[path + (index,)] = item.start_mark.line + 1
            items.append(_build(loader, item, path + (index,), source))
        return items
    return _scalar(loader, node, path, source)


def _scalar(loader: _Loader, node: yaml.Node, path: Path, source: Source) -> Any:
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:  # one line: the problem's own line is given, not PyYAML's excerpt and caret
        unknown_tag = isinstance(exc, yaml.constructor.ConstructorError) and "constructor for the tag" in str(exc)
        reason = (f"the tag {node.tag} is not allowed (plain YAML only)" if unknown_tag
                  else (getattr(exc, "problem", None) or str(exc)).splitlines()[0])
        source.problems.append((path, node.start_mark.line + 1, f"invalid value: {reason}"))
        return None
    return value
