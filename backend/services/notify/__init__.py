"""Telling people: the outbox, its channels, messages, webhooks, contacts."""
