"""Jaeger's query HTTP API (``/jaeger/api/*``) over Vigil's traces, for Grafana's Jaeger data source and Jaeger UI.

:mod:`query.jaeger.models` declares Jaeger's JSON (the ``structuredResponse`` envelope and the UI
trace model), :mod:`query.jaeger.convert` maps OTLP spans to it the way Jaeger's OTLP translator does,
:mod:`query.jaeger.params` parses Jaeger's query parameters, :mod:`query.jaeger.service` reads the
store and :mod:`query.jaeger.controller` serves the routes. See docs/jaeger.md.
"""
