"""Qonys back end: the Flask API, services, models, jobs and the `qonys` command."""
