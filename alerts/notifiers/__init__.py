"""Notification channels (email, Slack, webhook) and the payloads they share."""
