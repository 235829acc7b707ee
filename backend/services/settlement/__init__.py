"""Kandas and resettlers: quotas, zones, admissions, the obligation, claims."""
