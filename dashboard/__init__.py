"""Web dashboard: static files (``dashboard/static``) served at ``/`` by :func:`dashboard.router.static_router`."""
