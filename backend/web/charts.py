"""Small charts drawn on the server as SVG: no chart library, nothing to download."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trend:
    """A sparkline: the values' polyline, their dots, and the targets' dots."""

    width: int
    height: int
    line: str
    dots: list[tuple[float, float, int, float]]  # x, y, year, value
    targets: list[tuple[float, float, int, float]]


def trend(
    years: list[int],
    values: list[float | None],
    targets: list[float | None],
    width: int = 160,
    height: int = 40,
    pad: int = 4,
) -> Trend:
    """Scale values and targets (shares or counts) of ``years`` into a ``width``×``height`` box."""
    known = [v for v in (*values, *targets) if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1

    def x(i: int) -> float:
        return round(pad + i * (width - 2 * pad) / max(len(years) - 1, 1), 1)

    def y(v: float) -> float:
        return round(height - pad - (v - low) * (height - 2 * pad) / (high - low), 1)

    dots = [(x(i), y(v), years[i], v) for i, v in enumerate(values) if v is not None]
    marks = [(x(i), y(t), years[i], t) for i, t in enumerate(targets) if t is not None]
    return Trend(width, height, " ".join(f"{dx},{dy}" for dx, dy, _y, _v in dots), dots, marks)
