"""The one YAML loader of Vigil's files (config, redaction rules, token files, alert rules).

Loading is safe (a :class:`yaml.SafeLoader` subclass), and every value comes back as a :class:`Node`
that remembers its file, line and key path, so every problem can say where it is::

    vigil.yaml:7: unknown key 'prot'; known keys: host, port
    vigil.yaml:9: duplicate key 'port' (first at line 3)
    redaction.yaml:4: drop_keys[1]: expected string, got integer

Checks append to a ``problems`` list instead of raising, so one :class:`YamlError` reports them all::

    problems: list[str] = []
    root = load_yaml(path, problems)
    top = check_mapping(root, {"port": int, "hosts": list[str], "tls": dict}, problems, required=("port",))
    if "port" in top and top["port"].value > 65535:
        problems.append(top["port"].problem("must be at most 65535"))
    YamlError.raise_if(problems)

Mapping keys are their source text (``on:`` is the key ``'on'``, never ``True``); aliases (``*name``) are
refused, which also rules out alias bombs. Values in error messages are never echoed (they may be secrets).
"""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_ALIAS_TAG = "tag:vigil,2026:alias"  # what compose_node makes of an alias
_NAMES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number", list: "list",
                           dict: "mapping", type(None): "null"}


class YamlError(ValueError):
    """One or more problems in YAML files; ``problems`` lists them, each starting with ``file:line:``."""

    def __init__(self, problems: list[str]) -> None:
        """Keep ``problems``; the message is all of them, one per line.

        Args:
            problems: ``file:line: message`` strings.
        """
        super().__init__("\n".join(problems))
        self.problems = list(problems)

    @classmethod
    def raise_if(cls, problems: list[str]) -> None:
        """Raise this error class with ``problems`` unless the list is empty.

        Args:
            problems: The collected problems.

        Raises:
            YamlError: ``problems`` is not empty (as ``cls``, so subclasses work too).
        """
        if problems:
            raise cls(problems)


@dataclass(frozen=True)
class Mark:
    """A position in a file: ``str(mark)`` is ``file:line`` (lines count from 1; ``column`` too, 0 = unknown)."""

    file: str
    line: int
    column: int = field(default=0, compare=False)

    def __str__(self) -> str:
        """``file:line``."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Node:
    """A loaded value with its position.

    Attributes:
        value: A scalar (str, int, float, bool, None, date, ...), ``list[Node]`` or ``dict[str, Node]``.
        mark: Where the value starts.
        path: The key path from the top (``value_masks[0].pattern``; ``''`` for the top).
        key_marks: For mappings, where each key is.
    """

    value: Any
    mark: Mark
    path: str = ""
    key_marks: dict[str, Mark] = field(default_factory=dict)

    def problem(self, message: str, mark: Mark | None = None) -> str:
        """A problem line about this node: ``file:line: path: message``.

        Args:
            message: What is wrong.
            mark: Position to report instead of the node's own (e.g. a key's).

        Returns:
            The formatted problem.
        """
        where = f"{self.path}: " if self.path else ""
        return f"{mark or self.mark}: {where}{message}"

    def plain(self) -> Any:
        """The value as plain Python data (dicts, lists and scalars, without positions)."""
        if isinstance(self.value, dict):
            return {key: child.plain() for key, child in self.value.items()}
        if isinstance(self.value, list):
            return [child.plain() for child in self.value]
        return self.value


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds :class:`Node` trees, refusing duplicate keys, aliases and unknown tags."""

    def __init__(self, text: str, file: str, problems: list[str]) -> None:
        """Load ``text`` of ``file``, appending problems to ``problems``."""
        super().__init__(text)
        self.file = file
        self.problems = problems

    def mark(self, mark: Any) -> Mark:
        """Our mark for PyYAML's (0-based line) ``mark``."""
        return Mark(self.file, mark.line + 1, mark.column + 1)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose as PyYAML does, but an alias becomes a placeholder (refused by :meth:`build`)."""
        if self.check_event(yaml.AliasEvent):
            event: Any = self.get_event()  # type: ignore[no-untyped-call]
            return yaml.ScalarNode(_ALIAS_TAG, event.anchor, event.start_mark, event.end_mark)
        return super().compose_node(parent, index)

    def build(self, node: yaml.Node, path: str) -> Node:
        """The :class:`Node` tree of a composed ``node`` whose key path is ``path``."""
        mark = self.mark(node.start_mark)
        if node.tag == _ALIAS_TAG:
            self.problems.append(Node(None, mark, path).problem(f"aliases (*{node.value}) are not supported"))
            return Node(None, mark, path)
        if isinstance(node, yaml.ScalarNode):
            try:
                return Node(self.construct_object(node, deep=True), mark, path)
            except yaml.MarkedYAMLError as exc:
                self.problems.append(Node(None, mark, path).problem(exc.problem or "cannot read value"))
                return Node(None, mark, path)
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            self.problems.append(Node(None, mark, path).problem(f"unsupported tag {node.tag!r}"))
            return Node(None, mark, path)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.build(item, f"{path}[{i}]") for i, item in enumerate(node.value)], mark, path)
        values: dict[str, Node] = {}
        keys: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            key_mark = self.mark(key_node.start_mark)
            here = Node(None, key_mark, path)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _ALIAS_TAG:
                self.problems.append(here.problem("keys must be plain scalars"))
            elif key_node.value in keys:
                first = keys[key_node.value].line
                self.problems.append(here.problem(f"duplicate key {key_node.value!r} (first at line {first})"))
            else:
                keys[key_node.value] = key_mark
                child = f"{path}.{key_node.value}" if path else key_node.value
                values[key_node.value] = self.build(value_node, child)
        return Node(values, mark, path, keys)


def _syntax(exc: yaml.MarkedYAMLError, file: str) -> str:
    """``file:line: problem (context at line N)`` for a PyYAML error."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{file}:{mark.line + 1}" if mark else file
    if not exc.context or not exc.problem:
        return f"{where}: {exc.problem or exc.context}"
    at = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
    if exc.problem.startswith("but "):  # PyYAML's "expected X{at}, but found Y"
        return f"{where}: {exc.context}{at}, {exc.problem}"
    return f"{where}: {exc.problem} ({exc.context}{at})"


def parse_yaml(text: str, file: str = "<string>", problems: list[str] | None = None) -> Node:
    """Parse one YAML document into a :class:`Node` tree.

    Args:
        text: The YAML source.
        file: The name used in marks and problems.
        problems: If given, problems are appended here and a best-effort tree is returned (a broken
            document gives a null top node); if None, they are raised.

    Returns:
        The top node; an empty document is a null node at line 1.

    Raises:
        YamlError: Syntax errors, duplicate keys, aliases or unsupported tags (only when ``problems`` is None).
    """
    found: list[str] = []
    loader = _Loader(text, file, found)
    top = Node(None, Mark(file, 1))
    try:
        root = loader.get_single_node()
        if root is not None:
            top = loader.build(root, "")
    except yaml.MarkedYAMLError as exc:
        found.append(_syntax(exc, file))
        top = Node(None, Mark(file, 1))
    finally:
        loader.dispose()
    found.sort(key=lambda problem: _line_of(problem, file))
    if problems is None:
        YamlError.raise_if(found)
    else:
        problems.extend(found)
    return top


def _line_of(problem: str, file: str) -> int:
    """The line number of a ``file:line: ...`` problem (0 when it has none)."""
    line = problem[len(file) + 1:].partition(":")[0]
    return int(line) if line.isdigit() else 0


def load_yaml(path: str | os.PathLike[str], problems: list[str] | None = None) -> Node:
    """Read and parse a YAML file (UTF-8); marks name the file as ``str(path)``.

    Args:
        path: The file.
        problems: As for :func:`parse_yaml`; an unreadable file is one problem too.

    Returns:
        The top node.

    Raises:
        YamlError: The file cannot be read or parsed (only when ``problems`` is None).
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        found = [f"{file}: cannot read: {reason}"]
        if problems is None:
            raise YamlError(found) from exc
        problems.extend(found)
        return Node(None, Mark(file, 1))
    return parse_yaml(text, file, problems)


def type_name(expected: object) -> str:
    """A reader's name for a type spec: ``int`` → ``integer``, ``list[str]`` → ``list of strings``.

    Args:
        expected: A type, ``list[T]``, ``dict[str, T]``, a union (``str | None``) or a tuple of these.

    Returns:
        The name used in problems.
    """
    alternatives = _alternatives(expected)
    if len(alternatives) > 1:
        return " or ".join(type_name(a) for a in alternatives)
    origin, args = get_origin(expected), get_args(expected)
    if origin in (list, dict) and args and args[-1] not in (object, Any):
        return f"{_NAMES[origin]} of {_plural(type_name(args[-1]))}"
    if origin in (list, dict):
        return _NAMES[origin]
    if isinstance(expected, type):
        return _NAMES.get(expected, expected.__name__)
    return str(expected)


def _plural(name: str) -> str:
    """``string`` → ``strings``; compound names are parenthesised instead."""
    return f"{name}s" if " " not in name else f"({name})"


def _alternatives(expected: object) -> tuple[object, ...]:
    """The members of a union or tuple spec (``(expected,)`` for anything else)."""
    if isinstance(expected, tuple):
        return expected
    if isinstance(expected, types.UnionType) or get_origin(expected) is Union:
        return get_args(expected)
    return (expected,)


def _accepts(value: Any, expected: object) -> bool:
    """Whether ``value`` (a Node value) has type ``expected``; bool is no integer, an integer is a number."""
    alternatives = _alternatives(expected)
    if len(alternatives) > 1:
        return any(_accepts(value, a) for a in alternatives)
    origin, args = get_origin(expected), get_args(expected)
    if origin is list:
        return isinstance(value, list) and (not args or all(_accepts(v.value, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict) and (not args or all(_accepts(v.value, args[-1]) for v in value.values()))
    if expected in (object, Any):
        return True
    if expected is None or expected is type(None):
        return value is None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    if expected is int and isinstance(value, bool):
        return False
    return isinstance(expected, type) and isinstance(value, expected)


def check_type(node: Node, expected: object, problems: list[str]) -> bool:
    """Check that ``node`` has type ``expected``; elements of ``list[T]``/``dict[str, T]`` are checked one by one.

    Args:
        node: The value.
        expected: A type spec as for :func:`type_name`.
        problems: Where to append ``file:line: path: expected integer, got string``.

    Returns:
        Whether the value (and every element) has the expected type.
    """
    origin, args = get_origin(expected), get_args(expected)
    if origin is list and args and isinstance(node.value, list):
        return all([check_type(item, args[0], problems) for item in node.value])
    if origin is dict and args and isinstance(node.value, dict):
        return all([check_type(item, args[-1], problems) for item in node.value.values()])
    if _accepts(node.value, expected):
        return True
    got = _NAMES.get(type(node.value), type(node.value).__name__)
    problems.append(node.problem(f"expected {type_name(expected)}, got {got}"))
    return False


def check_mapping(node: Node, schema: Mapping[str, object], problems: list[str], *,
                  required: Collection[str] = ()) -> dict[str, Node]:
    """Check a mapping's keys against ``schema`` (key → type spec, as for :func:`check_type`).

    A null node (empty file, ``section:`` with nothing under it) counts as an empty mapping.

    Args:
        node: The mapping.
        schema: The allowed keys and their types (``object`` for anything).
        problems: Where to append unknown keys, missing required keys and type errors.
        required: Keys that must be present.

    Returns:
        The present keys whose values have the right type (so callers may use them directly).
    """
    if node.value is None:
        node = Node({}, node.mark, node.path)
    if not isinstance(node.value, dict):
        got = _NAMES.get(type(node.value), type(node.value).__name__)
        problems.append(node.problem(f"expected a mapping, got {got}"))
        return {}
    good: dict[str, Node] = {}
    for key, child in node.value.items():
        if key not in schema:
            problems.append(node.problem(_unknown(key, schema), node.key_marks.get(key)))
        elif check_type(child, schema[key], problems):
            good[key] = child
    missing = [key for key in required if key not in node.value]
    if missing:
        problems.append(node.problem(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"))
    return good


def _unknown(key: str, schema: Mapping[str, object]) -> str:
    """``unknown key 'prot'; known keys: host, port; did you mean 'port'?``."""
    message = f"unknown key {key!r}; known keys: {', '.join(sorted(schema))}"
    close = difflib.get_close_matches(key, list(schema), n=1)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def load_mapping(path: str | os.PathLike[str], schema: Mapping[str, object], *,
                 required: Collection[str] = ()) -> dict[str, Node]:
    """The common case: a file whose top level is a mapping, checked against ``schema``.

    Args:
        path: The file.
        schema: The allowed keys and their types, as for :func:`check_mapping`.
        required: Keys that must be present.

    Returns:
        The keys' nodes (use ``.value`` / ``.plain()``; ``.problem()`` for further checks).

    Raises:
        YamlError: Every problem of reading, parsing and checking the file.
    """
    problems: list[str] = []
    top = check_mapping(load_yaml(path, problems), schema, problems, required=required)
    YamlError.raise_if(problems)
    return top
