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
from pathlib import Path

import yaml

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


def load_tokens(inline: str, file: str) -> dict[str, str]:
    """Tokens from a comma-separated string and/or a YAML file (a list of ``{token, tenant}``)."""
    tokens = parse_tokens(inline.split(",")) if inline else {}
    if file:
        data = yaml.safe_load(Path(file).read_text()) or []
        if not isinstance(data, list):
            raise ValueError(f"{file}: expected a list of {{token, tenant}} mappings")
        for item in data:
            if not isinstance(item, dict) or "token" not in item:
                raise ValueError(f"{file}: every entry needs a token")
            tokens.update(parse_tokens([f"{item['token']}={item.get('tenant', '')}"]))
    return tokens


class Authenticator:
    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = [(t.encode(), tenant) for t, tenant in tokens.items()]

    @property
    def enabled(self) -> bool:
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
