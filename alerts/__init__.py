"""Alerting (YAML rules → evaluator → notifiers). Not part of this release; see the issues list."""
