"""The shared YAML loader: positions, duplicate and unknown keys, type errors, all problems at once."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from contracts.yamlfile import (
    Mark,
    Node,
    YamlError,
    check_mapping,
    check_type,
    load_mapping,
    load_yaml,
    parse_yaml,
    type_name,
)


def write(tmp_path: Path, text: str, name: str = "vigil.yaml") -> Path:
    """Write ``text`` to ``tmp_path/name`` and return its path."""
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nodes_keep_file_line_and_path(tmp_path: Path) -> None:
    """Every node knows its file, line and key path."""
    path = write(tmp_path, "# comment\nport: 8080\nreceiver:\n  hosts:\n    - a\n    - b\n")
    top = load_yaml(path)
    assert top.mark == Mark(str(path), 2)
    hosts = top.value["receiver"].value["hosts"]
    assert hosts.path == "receiver.hosts"
    assert [(h.value, h.mark.line, h.path) for h in hosts.value] == [("a", 5, "receiver.hosts[0]"),
                                                                       ("b", 6, "receiver.hosts[1]")]
    assert top.key_marks["receiver"].line == 3
    assert str(top.value["port"].mark) == f"{path}:2"
    assert top.plain() == {"port": 8080, "receiver": {"hosts": ["a", "b"]}}


def test_scalars_follow_safe_loader_and_keys_are_source_text(tmp_path: Path) -> None:
    """Values are SafeLoader's; keys stay as written (``on`` is no boolean)."""
    top = load_yaml(write(tmp_path, "on: yes\n1: one\nn: ~\nf: 1.5\nd: 2026-01-02\nq: '007'\n"))
    assert top.plain() == {"on": True, "1": "one", "n": None, "f": 1.5, "d": datetime.date(2026, 1, 2), "q": "007"}


def test_empty_file_is_a_null_node(tmp_path: Path) -> None:
    """An empty file is a null node, which checks as an empty mapping."""
    top = load_yaml(write(tmp_path, "# nothing yet\n"))
    assert top.value is None and top.mark.line == 1
    assert check_mapping(top, {"port": int}, []) == {}


def test_unknown_key_names_file_line_and_known_keys(tmp_path: Path) -> None:
    """An unknown key names file, line, the known keys and the closest one."""
    path = write(tmp_path, "host: x\n\n\n\n\n\nprot: 1\n")
    with pytest.raises(YamlError) as exc:
        load_mapping(path, {"host": str, "port": int})
    assert exc.value.problems == [f"{path}:7: unknown key 'prot'; known keys: host, port; did you mean 'port'?"]
    assert str(exc.value) == exc.value.problems[0]
    assert isinstance(exc.value, ValueError)


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    """Duplicate keys are errors at any depth (PyYAML would keep the last)."""
    path = write(tmp_path, "port: 1\nother:\n  a: 1\n  a: 2\nport: 2\n")
    with pytest.raises(YamlError) as exc:
        load_yaml(path)
    assert exc.value.problems == [f"{path}:4: other: duplicate key 'a' (first at line 3)",
                                  f"{path}:5: duplicate key 'port' (first at line 1)"]


def test_type_errors_name_line_and_key_without_echoing_values(tmp_path: Path) -> None:
    """Type errors name file, line and key path, never the value."""
    path = write(tmp_path, "port: secret-80\nratio: 1\ndebug: 1\nhosts: [a, 2]\nlimits: {a: 1, b: x}\nname: null\n")
    schema = {"port": int, "ratio": float, "debug": bool, "hosts": list[str], "limits": dict[str, int],
              "name": str | None}
    problems: list[str] = []
    good = check_mapping(load_yaml(path), schema, problems)
    assert problems == [
        f"{path}:1: port: expected integer, got string",
        f"{path}:3: debug: expected boolean, got integer",
        f"{path}:4: hosts[1]: expected string, got integer",
        f"{path}:5: limits.b: expected integer, got string",
    ]
    assert sorted(good) == ["name", "ratio"]  # an integer is a number; null is allowed by the union
    assert "secret" not in "".join(problems)


def test_bool_is_not_an_integer_and_object_accepts_anything() -> None:
    """``True`` is no integer; ``object`` and tuples of types work as specs."""
    problems: list[str] = []
    assert not check_type(Node(True, Mark("f", 1), "n"), int, problems)
    assert check_type(Node([Node({}, Mark("f", 1))], Mark("f", 1), "x"), object, problems)
    assert check_type(Node("a", Mark("f", 1)), (int, str), problems)
    assert problems == ["f:1: n: expected integer, got boolean"]


def test_all_problems_are_collected_in_one_error(tmp_path: Path) -> None:
    """Loading and checking problems all end up in one YamlError."""
    path = write(tmp_path, "port: x\nport: 2\nprot: 1\nmasks:\n  - {pattern: a, bogus: 1}\n  - name: b\n")
    problems: list[str] = []
    top = check_mapping(load_yaml(path, problems), {"port": int, "masks": list[dict[str, object]]}, problems)
    for mask in top["masks"].value:
        check_mapping(mask, {"name": str, "pattern": str}, problems, required=("pattern",))
    with pytest.raises(YamlError) as exc:
        YamlError.raise_if(problems)
    assert exc.value.problems == [
        f"{path}:2: duplicate key 'port' (first at line 1)",
        f"{path}:1: port: expected integer, got string",
        f"{path}:3: unknown key 'prot'; known keys: masks, port; did you mean 'port'?",
        f"{path}:5: masks[0]: unknown key 'bogus'; known keys: name, pattern",
        f"{path}:6: masks[1]: missing key 'pattern'",
    ]
    assert str(exc.value).count("\n") == 4


def test_raise_if_raises_subclasses_and_nothing_for_no_problems() -> None:
    """``raise_if`` raises the class it is called on, only for problems."""
    class RulesError(YamlError):
        pass

    YamlError.raise_if([])
    with pytest.raises(RulesError):
        RulesError.raise_if(["f:1: bad"])


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """A list where a mapping is expected is one problem."""
    path = write(tmp_path, "- a\n- b\n")
    with pytest.raises(YamlError, match=rf"^{path}:1: expected a mapping, got list$"):
        load_mapping(path, {"a": str})


@pytest.mark.parametrize(("text", "line", "message"), [
    ("a: 1\nb: [1, 2\n", 3, "expected ',' or ']'"),
    ("a: 1\n  b: 2\n", 2, "mapping values are not allowed here"),
    ("a: 'open\n", 2, "found unexpected end of stream (while scanning a quoted scalar at line 1)"),
    ("a: 1\n---\nb: 2\n", 2, "expected a single document in the stream at line 1, but found another document"),
])
def test_syntax_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """PyYAML's syntax errors come back as ``file:line: problem``."""
    path = write(tmp_path, text)
    with pytest.raises(YamlError) as exc:
        load_yaml(path)
    (problem,) = exc.value.problems
    assert problem.startswith(f"{path}:{line}: {message}")


def test_unsafe_and_unknown_tags_are_refused(tmp_path: Path) -> None:
    """Python object tags, custom tags and sets are refused."""
    path = write(tmp_path, "a: !!python/object/apply:os.system ['true']\nb: !custom x\nc: !!set {x}\n")
    with pytest.raises(YamlError) as exc:
        load_yaml(path)
    assert [p.split(": ", 2)[:2] for p in exc.value.problems] == [[f"{path}:1", "a"], [f"{path}:2", "b"],
                                                                    [f"{path}:3", "c"]]
    assert "python/object/apply" in exc.value.problems[0] and "unsupported tag" in exc.value.problems[2]


def test_aliases_are_refused(tmp_path: Path) -> None:
    """Aliases would share one value between paths (and allow alias bombs)."""
    path = write(tmp_path, "base: &b {x: 1}\nother: *b\nlist: [*b]\n")
    with pytest.raises(YamlError) as exc:
        load_yaml(path)
    assert exc.value.problems == [f"{path}:2: other: aliases (*b) are not supported",
                                  f"{path}:3: list[0]: aliases (*b) are not supported"]


def test_problems_list_gets_a_best_effort_tree(tmp_path: Path) -> None:
    """With a problems list the loader returns what it could build."""
    problems: list[str] = []
    top = load_yaml(write(tmp_path, "a: 1\na: 2\nb: [\n"), problems)
    assert top.value is None and len(problems) == 1  # the syntax error wins; nothing else can be trusted
    problems = []
    top = load_yaml(write(tmp_path, "a: 1\na: 2\nb: 3\n"), problems)
    assert top.plain() == {"a": 1, "b": 3} and len(problems) == 1


def test_unreadable_file(tmp_path: Path) -> None:
    """A missing or non-UTF-8 file is a problem naming the file."""
    missing = tmp_path / "missing.yaml"
    with pytest.raises(YamlError, match=rf"^{missing}: cannot read: No such file or directory$"):
        load_yaml(missing)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    problems: list[str] = []
    assert load_yaml(binary, problems).value is None
    assert problems[0].startswith(f"{binary}: cannot read: ")


def test_parse_yaml_names_the_given_file() -> None:
    """Text parsed from elsewhere is named by the caller."""
    with pytest.raises(YamlError, match=r"^env:1: duplicate key 'a'"):
        parse_yaml("{a: 1, a: 2}", "env")


def test_type_names() -> None:
    """Type specs read as words in problems."""
    assert type_name(int) == "integer"
    assert type_name(list[str]) == "list of strings"
    assert type_name(dict[str, int]) == "mapping of integers"
    assert type_name(str | None) == "string or null"
    assert type_name((int, float)) == "integer or number"
    assert type_name(list[dict[str, object]]) == "list of mappings"
    assert type_name(list[list[str] | None]) == "list of (list of strings or null)"
    assert type_name(dict) == "mapping"
