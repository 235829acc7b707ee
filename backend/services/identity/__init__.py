"""Who is who: names across scripts, MRZ, candidate matches, duplicates."""
