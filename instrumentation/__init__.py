"""Client-side helpers: OpenTelemetry SDK setup pointed at Vigil."""
