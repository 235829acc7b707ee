"""Signed credentials, their keys and the status lists that revoke them."""
