"""PostgreSQL metadata store (psycopg 3): embedded server by default, or an external one."""
