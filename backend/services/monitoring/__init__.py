"""What the ministry reads: indicators, maps, map features, reports."""
