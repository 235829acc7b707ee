"""Phones, their movement traces, and the alerts those traces raise."""
