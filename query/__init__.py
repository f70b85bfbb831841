"""Query services (pure functions of a reader and a time range) and the Litestar API over them."""
