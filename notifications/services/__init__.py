"""Writes of notifications by concern: inbox, preferences, stream_tokens, push_subscriptions."""
