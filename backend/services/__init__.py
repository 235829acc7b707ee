"""Use cases. Each takes a Session and plain values; none imports Flask."""
