"""RQ job functions: primitive arguments, their own session, safe to run twice."""
