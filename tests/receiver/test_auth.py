"""Ingest tokens: inline entries and the YAML token file (file:line problems, all at once, never echoing tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.yamlfile import YamlError
from receiver.auth import Authenticator, Unauthenticated, load_tokens

A = "a" * 16
B = "b" * 20


def token_file(tmp_path: Path, text: str) -> str:
    """Write a token file with ``text``."""
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    return str(path)


def test_inline_and_file_tokens(tmp_path: Path) -> None:
    """Inline and file tokens combine; the authenticator accepts them."""
    path = token_file(tmp_path, f"- token: {B}\n  tenant: prod\n- {{token: ' {'c' * 16} ', tenant: null}}\n")
    tokens = load_tokens(f"{A}=dev", path)
    assert tokens == {A: "dev", B: "prod", "c" * 16: ""}
    auth = Authenticator(tokens)
    assert auth.authenticate(f"Bearer {B}") == "prod"
    with pytest.raises(Unauthenticated):
        auth.authenticate("Bearer " + "x" * 16)


def test_no_file_and_empty_file(tmp_path: Path) -> None:
    """No file and an empty file add no tokens."""
    assert load_tokens("", "") == {}
    assert load_tokens("", token_file(tmp_path, "# none yet\n")) == {}


def test_inline_short_token_is_refused() -> None:
    """Inline tokens must be at least 16 characters."""
    with pytest.raises(ValueError, match="at least 16 characters"):
        load_tokens("short", "")


def test_every_problem_of_the_file_names_its_line(tmp_path: Path) -> None:
    """Every bad entry is reported with its line, tokens never echoed."""
    path = token_file(tmp_path, f"""\
- token: {A}
- token: short-secret
- tenant: prod
- token: {A}
- {{token: {B}, tenat: x}}
- token: 1234567890123456789
- just-a-string
""")
    with pytest.raises(YamlError) as exc:
        load_tokens("", path)
    assert exc.value.problems == [
        f"{path}:2: [1].token: ingest tokens must be at least 16 characters",
        f"{path}:3: [2]: missing key 'token'",
        f"{path}:4: [3].token: duplicate token (first at line 1)",
        f"{path}:5: [4]: unknown key 'tenat'; known keys: tenant, token; did you mean 'tenant'?",
        f"{path}:6: [5].token: expected string, got integer",
        f"{path}:7: [6]: expected a mapping, got string",
    ]
    assert "short-secret" not in str(exc.value) and A not in str(exc.value) and "1234567" not in str(exc.value)


def test_file_must_hold_a_list(tmp_path: Path) -> None:
    """The token file's top level must be a list."""
    path = token_file(tmp_path, f"token: {A}\n")
    with pytest.raises(YamlError, match=rf"^{path}:1: expected a list of {{token, tenant}} mappings$"):
        load_tokens("", path)


def test_duplicate_keys_and_syntax_errors(tmp_path: Path) -> None:
    """Duplicate keys and syntax errors name file and line."""
    path = token_file(tmp_path, f"- token: {A}\n  token: {B}\n")
    with pytest.raises(YamlError, match=rf"^{path}:2: \[0\]: duplicate key 'token' \(first at line 1\)$"):
        load_tokens("", path)
    path = token_file(tmp_path, "- [unclosed\n")
    with pytest.raises(YamlError, match=rf"^{path}:2: "):
        load_tokens("", path)


def test_missing_file_is_a_value_error(tmp_path: Path) -> None:
    """A missing token file is a ValueError (YamlError)."""
    with pytest.raises(ValueError, match="cannot read"):
        load_tokens("", str(tmp_path / "missing.yaml"))
