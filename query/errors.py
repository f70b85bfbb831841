"""Errors query services raise; the API maps them to 4xx answers with body ``{error, detail}``."""

from __future__ import annotations


class BadRequest(ValueError):
    """A parameter is malformed (→ 400); ``parameter`` names it and prefixes the message."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        """``BadRequest("must be …", "limit")`` reads ``limit: must be …``."""
        super().__init__(f"{parameter}: {message}" if parameter else message)
        self.parameter = parameter


class NotFound(LookupError):
    """The requested object does not exist (→ 404)."""
