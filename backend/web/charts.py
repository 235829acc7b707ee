"""Small charts drawn on the server as SVG: no chart library, nothing to download."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trend:
    """A readable trend: the values' line and dots, the targets' line, the years along
    the bottom and the value range at the left, all in the box's own coordinates."""

    width: int
    height: int
    line: str
    dots: list[tuple[float, float, int, float]]  # x, y, year, value
    targets: list[tuple[float, float, int, float]]
    target_line: str
    years: list[tuple[float, int]]  # x, year (the axis labels)
    low: float  # the value axis: bottom and top of the drawn range
    high: float
    top: float  # y of ``high`` and of ``low``
    bottom: float
    left: float  # x where the plot starts (after the value labels)


def trend(
    years: list[int],
    values: list[float | None],
    targets: list[float | None],
    width: int = 300,
    height: int = 110,
    left: int = 44,
    pad: int = 12,
    axis: int = 18,
) -> Trend:
    """Scale values and targets (shares or counts) of ``years`` into a ``width``×``height``
    box, leaving ``left`` pixels for the value labels and ``axis`` for the years."""
    known = [v for v in (*values, *targets) if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1
    low = min(low, 0.0) if low >= 0 and high <= 1 else low  # shares start at 0 %
    top, bottom = float(pad), float(height - axis)

    def x(i: int) -> float:
        return round(left + pad + i * (width - left - 2 * pad) / max(len(years) - 1, 1), 1)

    def y(v: float) -> float:
        return round(bottom - (v - low) * (bottom - top) / (high - low), 1)

    dots = [(x(i), y(v), years[i], v) for i, v in enumerate(values) if v is not None]
    marks = [(x(i), y(t), years[i], t) for i, t in enumerate(targets) if t is not None]
    return Trend(
        width,
        height,
        " ".join(f"{dx},{dy}" for dx, dy, _y, _v in dots),
        dots,
        marks,
        " ".join(f"{dx},{dy}" for dx, dy, _y, _v in marks),
        [(x(i), year) for i, year in enumerate(years)],
        low,
        high,
        top,
        bottom,
        float(left),
    )
