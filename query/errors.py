"""Errors query services raise; the API maps them to 4xx answers."""


class BadRequest(ValueError):
    """A parameter is malformed (→ 400)."""


class NotFound(LookupError):
    """The requested object does not exist (→ 404)."""
