"""Vigil's bottom package: the contracts every stage meets through, and in-memory implementations.

Every other Vigil package may import ``contracts``; ``contracts`` imports no other Vigil package (a test
enforces it). Each protocol ships with an in-memory implementation beside it, as the OpenTelemetry SDK
ships ``InMemorySpanExporter``: unit tests of one stage use those instead of hand-made doubles.
"""
