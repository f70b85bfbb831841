"""ClickHouse-side storage: DDL, migrations, the group-commit writer and the reader."""
