"""OTLP receivers: decode bytes/JSON into OTLP request messages, validate, hand them to a TelemetryWriter.

Error mapping, limits and backpressure answers live here and nowhere else.
"""
