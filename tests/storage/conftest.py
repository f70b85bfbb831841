"""Storage tests use the session chDB fixtures of ``tests/chdb_fixtures.py`` (registered in tests/conftest.py)."""

from tests.chdb_fixtures import SESSION_RETENTION, ChdbStore

__all__ = ["SESSION_RETENTION", "ChdbStore"]
