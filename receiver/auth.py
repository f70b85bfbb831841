"""Optional ingest authentication with bearer tokens.

Tokens come from config as ``token`` or ``token=tenant`` entries. ``Authenticator.authenticate``
takes the ``Authorization`` header (HTTP) or metadata value (gRPC) and returns the token's tenant
label ('' when none; None when authentication is off) or raises :class:`Unauthenticated`. Every
configured token is compared with ``hmac.compare_digest`` (no early exit), so timing does not
reveal which prefix matched. With no tokens configured authentication is off and every request is
accepted (tenant None).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from contracts.yamlfile import YamlError, check_mapping, load_yaml

TENANT_ATTRIBUTE = "vigil.tenant"


class Unauthenticated(PermissionError):
    """Missing or wrong bearer token (→ HTTP 401 / gRPC UNAUTHENTICATED)."""


def parse_tokens(entries: Iterable[str]) -> dict[str, str]:
    """``["tok", "tok2=prod"]`` → ``{"tok": "", "tok2": "prod"}``; blank entries are ignored."""
    out: dict[str, str] = {}
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        token, _, tenant = entry.partition("=")
        if len(token.strip()) < 16:
            raise ValueError("ingest tokens must be at least 16 characters")
        out[token.strip()] = tenant.strip()
    return out


_ENTRY_SCHEMA: dict[str, object] = {"token": str, "tenant": str | None}


def load_tokens(inline: str, file: str) -> dict[str, str]:
    """Tokens from a comma-separated string and/or a YAML file.

    Args:
        inline: ``token`` / ``token=tenant`` entries separated by commas.
        file: A YAML file holding a list of ``{token, tenant}`` mappings ('' for none).

    Returns:
        Token → tenant label ('' for none).

    Raises:
        ValueError: A short inline token.
        YamlError: Every problem of the file, each as ``file:line: key: message`` (tokens are never echoed).
    """
    tokens = parse_tokens(inline.split(",")) if inline else {}
    if not file:
        return tokens
    problems: list[str] = []
    root = load_yaml(file, problems)
    entries = root.value if root.value is not None else []
    if not isinstance(entries, list):
        problems.append(root.problem("expected a list of {token, tenant} mappings"))
        entries = []
    first: dict[str, int] = {}
    for entry in entries:
        item = check_mapping(entry, _ENTRY_SCHEMA, problems, required=("token",))
        if "token" not in item:
            continue
        token = item["token"].value.strip()
        if len(token) < 16:
            problems.append(item["token"].problem("ingest tokens must be at least 16 characters"))
        elif token in first:
            problems.append(item["token"].problem(f"duplicate token (first at line {first[token]})"))
        else:
            first[token] = item["token"].mark.line
            tenant = item["tenant"].value if "tenant" in item else None
            tokens[token] = (tenant or "").strip()
    YamlError.raise_if(problems)
    return tokens


class Authenticator:
    """Checks bearer tokens against the configured ones (off when there are none)."""

    def __init__(self, tokens: dict[str, str]) -> None:
        """Accept ``tokens`` (token → tenant label, as from :func:`load_tokens`).

        Args:
            tokens: The configured tokens; empty turns authentication off.
        """
        self._tokens = [(t.encode(), tenant) for t, tenant in tokens.items()]

    @property
    def enabled(self) -> bool:
        """Whether any token is configured (else every request is accepted)."""
        return bool(self._tokens)

    def authenticate(self, authorization: str | None) -> str | None:
        """The token's tenant label ('' for a token without one); None when authentication is off."""
        if not self._tokens:
            return None
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Unauthenticated("missing bearer token")
        candidate = presented.strip().encode()
        tenant: str | None = None
        for token, label in self._tokens:
            if hmac.compare_digest(token, candidate):
                tenant = label
        if tenant is None:
            raise Unauthenticated("invalid bearer token")
        return tenant
