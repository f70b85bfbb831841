"""Web dashboard: static files served by the query API at ``/``."""
