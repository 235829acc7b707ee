"""Spatial core of Qonys, free of Flask: reference geography, point-in-region, geofences."""
