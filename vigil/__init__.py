"""Vigil: an OpenTelemetry-native APM backend (composition root and CLI)."""

__version__ = "0.1.0"
