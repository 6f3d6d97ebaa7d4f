"""Read a YAML file into plain Python data plus the line of every key, refusing duplicate keys.

PyYAML keeps the last of two equal keys without a word; a search-space file with `learning_rate` twice
is a mistake the user must hear about, so mappings are built here from the composed node tree.

Hostile input is bounded before anything is built: only a regular file of at most MAX_BYTES is read,
nesting stops at MAX_DEPTH levels, and aliases may add at most MAX_NODES values to those written out (a
recursive alias never), so a billion-laughs file, a link to /dev/zero or a pipe cost one line, not the machine.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

import yaml

from hpsearch.errors import Problem, SpaceError

Path = tuple[Any, ...]

MAX_BYTES = 1_000_000  # a search-space file is a few KB
MAX_DEPTH = 50  # levels of nesting; a search-space file needs about 6
MAX_NODES = 100_000  # values aliases may add; a search-space file holds a few hundred


class _Loader(yaml.SafeLoader):
    """SafeLoader (no object construction) that reads `1e-5` as a number, as YAML 1.2 does.

    PyYAML follows YAML 1.1, where a float needs a dot: `1e-5` would be the string '1e-5', and a
    learning rate written the way everyone writes it would be rejected.
    """

    def compose_node(self, parent, index):
        """PyYAML composes recursively: stop at MAX_DEPTH levels rather than at Python's recursion limit."""
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class Document:
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
        return None if self.from_command_line(path) else self.file_line(path)

    def file_line(self, path: Path) -> int | None:
        """The line of `path` in the file, or of its nearest ancestor given there, whatever --set changed."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def read(path: str | os.PathLike, what: str = "a search-space file", give: str = "a YAML file") -> str:
    """The text of the file at `path`: a regular file (links followed) of at most MAX_BYTES, UTF-8.

    Args:
        what: what the file should be, for the messages (every file hpsearch reads holds a few thousand bytes).
        give: what to give instead of a device or a pipe.

    Raises:
        SpaceError: one problem saying why the file cannot be read.
    """
    def refuse(reason: str) -> SpaceError:
        return SpaceError([Problem(str(path), None, "", reason)])

    too_big = f"holds more than {MAX_BYTES} bytes, and {what} holds a few thousand (is it the right file?)"
    not_regular = f"is not a regular file (a device, a pipe or a socket); give the path of {give}"
    try:
        info = os.stat(path)  # follows links: a link to /dev/zero is a device, refused before it is opened
        if stat.S_ISDIR(info.st_mode):
            raise refuse(f"is a folder, not {what}")
        if not stat.S_ISREG(info.st_mode):
            raise refuse(not_regular)
        if info.st_size > MAX_BYTES:
            raise refuse(too_big)
        # O_NONBLOCK: a pipe swapped in since the stat cannot make the open wait for a writer
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise refuse(not_regular)
            raw = handle.read(MAX_BYTES + 1)  # a file that grew since the stat is still read no further
    except FileNotFoundError:
        raise refuse("no such file (check the path)") from None
    except OSError as exc:
        raise refuse(f"cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise refuse(too_big)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as open() in text mode


def parse(text: str, overrides: tuple[str, ...] | list[str] = ()) -> Document:
    """Parse YAML `text`, then apply the command line's `overrides` (see `override`); syntax errors, duplicate
    keys and oversized input land in `problems`, never as exceptions."""
    document = _parse(text)
    override(document, overrides)
    return document


def _parse(text: str) -> Document:
    if len(text) > MAX_BYTES:
        return Document(None, problems=[((), None, f"invalid YAML: the text holds {len(text)} characters, more than "
                                                   f"the {MAX_BYTES} a search-space file may (is it the right file?)")])
    loader = None
    try:
        loader = _Loader(text)  # the reader already rejects control characters here
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return Document(None, problems=[((), line, f"invalid YAML: {reason} (fix the syntax)")])
    except yaml.YAMLError as exc:  # reader errors: control characters and the like
        reason = str(exc).splitlines()[0]
        return Document(None, problems=[((), None, f"invalid YAML: {reason} (remove the character)")])
    finally:
        if loader is not None:
            loader.dispose()
    document = Document(None)
    if node is not None:
        document.lines[()] = node.start_mark.line + 1
        refused = _too_big(node)
        if refused is not None:
            line, reason = refused
            return Document(None, problems=[((), line, f"invalid YAML: {reason}")])
        document.data = _build(loader, node, (), document)
    return document


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _too_big(root: yaml.Node) -> tuple[int, str] | None:
    """(line, why) when the node graph cannot be built as a tree: a recursive alias, nesting deeper than
    MAX_DEPTH, or aliases adding more than MAX_NODES values to those written out; None when it can (the values
    written out are bounded by MAX_BYTES).

    The composed graph shares each anchored node among its aliases, so it stays small while the tree it
    stands for can be exponential: sizes and depths are counted per node, once, without recursion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    path: set[int] = set()  # the nodes between the root and the one being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            path.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            line = node.start_mark.line + 1
            if depth[key] > MAX_DEPTH:
                return line, f"nested deeper than {MAX_DEPTH} levels once its aliases are expanded (flatten it)"
            if size[key] > len(size) + MAX_NODES:  # values the aliases add to those written out (len(size))
                return line, (f"the aliases expand to more than {MAX_NODES} values (write the values out, or use "
                              "fewer aliases)")
            continue
        if key in size:
            continue
        path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in path:
                return child.start_mark.line + 1, ("a recursive alias: an alias inside the node its anchor names "
                                                   "(remove the alias)")
            if id(child) not in size:
                stack.append((child, False))
    return None


def override(document: Document, assignments: tuple[str, ...] | list[str]) -> None:
    """Apply command-line `KEY.PATH=VALUE` assignments to the parsed data (VALUE read as YAML)."""
    if assignments and document.data is None and not document.problems:
        document.data = {}
    for text in assignments:
        key, sep, raw = text.partition("=")
        path = tuple(part.strip() for part in key.split("."))
        if not sep or not all(path):
            document.problems.append(((), None, f"--set {text!r}: write KEY.PATH=VALUE, for example "
                                                "--set space.max_steps.high=20"))
            continue
        value = _parse(raw)
        if value.problems:
            document.problems.append((path, None, f"--set value {raw!r} is not YAML ({value.problems[0][2]})"))
            continue
        if not isinstance(document.data, dict):
            continue  # the file itself is broken; its own problem says so
        node = document.data
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = value.data
        document.overridden.add(path)


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap")


def _build(loader: _Loader, node: yaml.Node, path: Path, document: Document) -> Any:
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        document.problems.append((path, node.start_mark.line + 1, f"invalid value: the tag {node.tag} is not "
                                                                   "allowed (plain YAML only)"))
        return None
    if isinstance(node, yaml.MappingNode):
        try:
            loader.flatten_mapping(node)  # resolves `<<: *anchor` merges the way PyYAML would
        except yaml.MarkedYAMLError as exc:
            document.problems.append((path, node.start_mark.line + 1, f"invalid YAML merge: {exc.problem}"))
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                document.problems.append((path, line, "a key must be a plain name, not a list or mapping"))
                continue
            key = _scalar(loader, key_node, path, document)
            if key in result:
                first = document.lines.get(path + (key,))
                document.problems.append(
                    (path + (key,), line, f"duplicate key (first given on line {first}; keep one of them)")
                )
                continue
            document.lines[path + (key,)] = line
            result[key] = _build(loader, value_node, path + (key,), document)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            document.lines[path + (index,)] = item.start_mark.line + 1
            items.append(_build(loader, item, path + (index,), document))
        return items
    return _scalar(loader, node, path, document)


def _scalar(loader: _Loader, node: yaml.Node, path: Path, document: Document) -> Any:
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:  # one line: the problem's own line is given, not PyYAML's excerpt and caret
        unknown_tag = isinstance(exc, yaml.constructor.ConstructorError) and "constructor for the tag" in str(exc)
        reason = (f"the tag {node.tag} is not allowed (plain YAML only)" if unknown_tag
                  else (getattr(exc, "problem", None) or str(exc)).splitlines()[0])
        document.problems.append((path, node.start_mark.line + 1, f"invalid value: {reason}"))
        return None
    except ValueError:  # Python refuses to read an integer of more than 4300 digits
        document.problems.append((path, node.start_mark.line + 1, f"invalid value: a number of {len(node.value)} "
                                                                   "digits (too long to be any setting)"))
        return None
    return value
