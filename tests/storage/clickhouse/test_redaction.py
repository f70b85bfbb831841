"""Loading redaction rules: file:line problems, all at once, and patterns checked with RE2 (ClickHouse's syntax)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.yamlfile import YamlError
from storage.clickhouse.redaction import (
    CARD_MASK,
    DEFAULT_MASKS,
    SQL_LITERALS,
    Redaction,
    RedactionError,
    ValueMask,
    load,
    re2_problem,
)


def rules(tmp_path: Path, text: str) -> Path:
    """Write a redaction file with ``text``."""
    path = tmp_path / "redaction.yaml"
    path.write_text(text)
    return path


def test_no_file_and_empty_file_give_the_defaults(tmp_path: Path) -> None:
    """No file and an empty file both mean the built-in rules."""
    assert load("") == Redaction()
    assert load(str(rules(tmp_path, "# all defaults\n"))) == Redaction()


def test_a_full_file(tmp_path: Path) -> None:
    """Every key of the file is read (RE2-only syntax such as Unicode classes is accepted)."""
    path = rules(tmp_path, """\
drop_keys: [secret]
hash_keys: [enduser.id]
db_statement_keys: [DB.Statement]
value_masks:
  - {name: card, pattern: '\\d{16}', replacement: '<card>'}
  - {pattern: '\\p{Lu}+', contains: X}
max_value_chars: 60
max_attributes: 12
""")
    assert load(str(path)) == Redaction(
        drop_keys=("secret",), hash_keys=("enduser.id",), db_statement_keys=("db.statement",),
        value_masks=(ValueMask("card", r"\d{16}", "<card>"), ValueMask("", r"\p{Lu}+", "<redacted>", "X")),
        max_value_chars=60, max_attributes=12,
    )


def test_lookahead_is_refused_at_load_with_file_line_and_pattern(tmp_path: Path) -> None:
    """Python's re accepts ``(?=``; ClickHouse's RE2 does not, so the file is refused before start."""
    path = rules(tmp_path, "value_masks:\n  - name: ahead\n    pattern: 'foo(?=bar)'\n")
    with pytest.raises(RedactionError) as exc:
        load(str(path))
    assert exc.value.problems == [
        f"{path}:3: value_masks[0].pattern: pattern 'foo(?=bar)' (mask 'ahead') is not valid RE2, the regex syntax "
        "of ClickHouse: invalid perl operator: (?="
    ]
    assert isinstance(exc.value, YamlError) and isinstance(exc.value, ValueError)


def test_every_problem_is_reported_once(tmp_path: Path) -> None:
    """All problems of the file come in one error, each once."""
    path = rules(tmp_path, """\
drop_key: [a]
hash_keys: [ok, '', 3]
value_masks:
  - {pattern: '(unclosed'}
  - {name: no-pattern}
  - {pattern: 'a', replacment: b}
max_value_chars: 0
max_attributes: many
drop_keys: []
drop_keys: [b]
""")
    with pytest.raises(RedactionError) as exc:
        load(str(path))
    assert exc.value.problems == [
        f"{path}:10: duplicate key 'drop_keys' (first at line 9)",
        f"{path}:1: unknown key 'drop_key'; known keys: db_statement_keys, drop_keys, hash_keys, max_attributes, "
        "max_value_chars, value_masks; did you mean 'drop_keys'?",
        f"{path}:2: hash_keys[2]: expected string, got integer",
        f"{path}:8: max_attributes: expected integer, got string",
        f"{path}:4: value_masks[0].pattern: pattern '(unclosed' is not valid RE2, the regex syntax of ClickHouse: "
        "missing ): (unclosed",
        f"{path}:5: value_masks[1]: missing key 'pattern'",
        f"{path}:6: value_masks[2]: unknown key 'replacment'; known keys: contains, name, pattern, replacement; "
        "did you mean 'replacement'?",
        f"{path}:7: max_value_chars: must be a positive integer, got 0",
    ]


def test_empty_strings_are_refused(tmp_path: Path) -> None:
    """An empty key glob is refused at its line."""
    path = rules(tmp_path, "drop_keys: ['a', '']\n")
    with pytest.raises(RedactionError, match=rf"^{path}:1: drop_keys\[1\]: must not be empty$"):
        load(str(path))


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """The file's top level must be a mapping."""
    path = rules(tmp_path, "- drop_keys\n")
    with pytest.raises(RedactionError, match=rf"^{path}:1: expected a mapping, got list$"):
        load(str(path))


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a RedactionError."""
    with pytest.raises(RedactionError, match="cannot read"):
        load(str(tmp_path / "nope.yaml"))


def test_built_in_patterns_are_valid_re2() -> None:
    """The built-in masks and SQL literal patterns compile in RE2; backreferences do not."""
    patterns = [m[1] for m in DEFAULT_MASKS] + [CARD_MASK[1]]
    patterns += list(SQL_LITERALS)
    assert [re2_problem(p) for p in patterns] == [None] * len(patterns)
    assert re2_problem(r"(a)\1") == "invalid escape sequence: \\1"
