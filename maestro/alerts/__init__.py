"""Delivering alerts: the channels (webhook, Slack, email, Python) and the sender that takes
due alerts from the outbox (``maestro.store.alerts``) and records each try."""
