"""Folium map builders: data in, HTML out. Offline: every script and style is served by us."""
