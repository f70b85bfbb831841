"""Storage: the columnar store (ClickHouse SQL on chDB or a server) and the PostgreSQL metadata store."""
