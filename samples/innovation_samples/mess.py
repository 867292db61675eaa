"""How real submissions write things: school years, counts, rates, money and suppression markers.

Each helper turns a clean value into text the way some state or district writes it, so program
layouts only pick a style. Every style here must load cleanly under the loader's rules (VOCAB.md):
a rate written as a bare percent number is always above 1, so ``auto`` format reads it as percent.
"""

from __future__ import annotations

import math

SCHOOL_YEAR_STYLES = ("short", "long", "sy", "sy_space", "end", "date", "iso_date")


def school_year_text(year: int, style: str) -> str:
    """School year ending ``year`` as written: 2023-24, 2023-2024, SY2024, SY 2023-24, 2024, dates."""
    return {
        "short": f"{year - 1}-{year % 100:02d}",
        "long": f"{year - 1}-{year}",
        "sy": f"SY{year}",
        "sy_space": f"SY {year - 1}-{year % 100:02d}",
        "end": str(year),
        "date": f"6/30/{year}",
        "iso_date": f"{year}-06-30",
    }[style]


def count_text(value: int, style: str = "plain") -> str:
    """A count: '1204' or '1,204'."""
    return f"{value:,}" if style == "thousands" else str(value)


def rate_text(value: float, style: str) -> str:
    """A rate in 0..1 as 'fraction' (0.853), 'percent_sign' (85.3%) or 'percent_number' (85.3)."""
    if style == "fraction":
        return f"{value:.3f}"
    if style == "percent_sign":
        return f"{value * 100:.1f}%"
    # A bare percent must read as percent under 'auto' (value > 1): keep it off the 0..1 range.
    return f"{max(value * 100, 1.5):.1f}"


def money_text(value: float, style: str) -> str:
    """Money: '$125,000.00', '125000' or '125,000'."""
    if style == "dollars":
        return f"${value:,.2f}"
    if style == "thousands":
        return f"{round(value):,}"
    return str(round(value))


def count_marker(value: int, marker: str, threshold: int) -> str | None:
    """The suppression marker for a small count, or None when the count is published."""
    if value >= threshold:
        return None
    if marker == "band":  # '<10' style, from the threshold
        return f"<{threshold}"
    if marker == "n_band":
        return f"n<{threshold}"
    if marker == "or_less":
        return f"{threshold - 1} or less"
    return marker


def rate_band(value: float) -> str:
    """A 5-point percent band holding the rate: 0.823 -> '80-84'."""
    low = min(int(math.floor(value * 100 / 5) * 5), 95)
    return f"{low}-{low + 4}"


def rate_marker(value: float, marker: str) -> str:
    """A suppressed rate: a band ('80-84'), a floor ('GE50' when at least half) or a plain marker."""
    if marker == "band":
        return rate_band(value)
    if marker == "ge50":
        return "GE50" if value >= 0.5 else "*"
    return marker


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
