"""Opaque keyset cursors for list endpoints."""

from __future__ import annotations

import base64

from backend.errors import Invalid


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id after which the next page starts; 0 for the first page."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != "id":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor", "is not a cursor this API issued") from exc


def next_cursor(ids: list[int], limit: int) -> str | None:
    return encode_cursor(ids[-1]) if len(ids) == limit else None


def encode_ranked_cursor(rank: int, last_id: int) -> str:
    """A cursor for lists ordered by a small rank first (urgent items), then by id."""
    return base64.urlsafe_b64encode(f"rank:{rank}:{last_id}".encode()).decode().rstrip("=")


def decode_ranked_cursor(cursor: str | None) -> tuple[int, int]:
    """(rank, id) after which the next page starts; (-1, 0) for the first page."""
    if not cursor:
        return -1, 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, rank, value = raw.split(":", 2)
        if kind != "rank":
            raise ValueError(kind)
        return int(rank), int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor", "is not a cursor this API issued") from exc
