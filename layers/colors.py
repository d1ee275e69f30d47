"""Colours of the map: pure, vectorised value → colour functions with fixed, meaningful class breaks.

Breaks are fixed (not quantiles) so that a colour means the same thing in every community and every month.
Palettes are ColorBrewer schemes (colour-blind safe where possible); the verification palette follows the
traffic-light convention grid workers already use on paper (green done, amber under way, red a problem).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from geodata import schema

#: Verification status (schema.V_*) → colour.
STATUS_COLORS: Final = {
    schema.V_VERIFIED: "#2e9d5b",
    schema.V_IN_PROGRESS: "#f0a830",
    schema.V_NOT_STARTED: "#9aa5b1",
    schema.V_OPEN_FINDINGS: "#d64541",
}
#: Legend order: the order of progress (nothing → some → all), then "complete but mismatches remain".
STATUS_ORDER: Final = (schema.V_NOT_STARTED, schema.V_IN_PROGRESS, schema.V_VERIFIED, schema.V_OPEN_FINDINGS)
#: The second channel of the status map: open mismatch findings draw a red outline (and a count badge).
MISMATCH_COLOR: Final = "#c81e1e"
OUTLINE_COLOR: Final = "#ffffff"
#: A building hidden by the filters (only=…, grid=…): drawn faint, still clickable.
DIMMED_COLOR: Final = "#d9dee4"
#: A flat nobody lives in (楼盘表 cell), and anything without data.
VACANT_COLOR: Final = "#e4e7eb"
NO_DATA_COLOR: Final = "#f1f3f5"

#: Share of verified households in a grid: <25 %, 25–50, 50–75, 75–95, ≥95 % (Blues; dark = done).
COVERAGE_BREAKS: Final = (0.25, 0.50, 0.75, 0.95)
COVERAGE_COLORS: Final = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")

#: Share of households with a member aged 60+ (typical old compound ≈ 55 %): <40, 40–50, 50–60, 60–70, ≥70 %.
ELDERLY_BREAKS: Final = (0.40, 0.50, 0.60, 0.70)
ELDERLY_COLORS: Final = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")

#: Share of party families (typical 20–25 %): <10, 10–20, 20–30, 30–40, ≥40 %.
PARTY_BREAKS: Final = (0.10, 0.20, 0.30, 0.40)
PARTY_COLORS: Final = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")

#: Elderly-only households (纯老户) per building: 0, 1–3, 4–7, 8–11, ≥12.
ELDERLY_ONLY_BREAKS: Final = (1, 4, 8, 12)
ELDERLY_ONLY_COLORS: Final = ("#e4e7eb", "#dadaeb", "#9e9ac8", "#6a51a3", "#3f007d")

#: Elderly living alone (独居老人) per building: 0, 1, 2–3, 4–5, ≥6.
LIVING_ALONE_BREAKS: Final = (1, 2, 4, 6)
LIVING_ALONE_COLORS: Final = ("#e4e7eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")

#: Open events per building: 0, 1, 2, 3–4, ≥5.
EVENT_BREAKS: Final = (1, 2, 3, 5)
EVENT_COLORS: Final = ("#e4e7eb", "#fdbe85", "#fd8d3c", "#e6550d", "#a63603")

#: Open findings per building: 0, 1–2, 3–5, 6–10, >10.
FINDING_BREAKS: Final = (1, 3, 6, 11)
FINDING_COLORS: Final = ("#e4e7eb", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d")


#: Event (事件) category → marker colour (ColorBrewer Set1-like, distinct at marker size).
EVENT_CATEGORY_COLORS: Final = {
    schema.EC_REPAIR: "#1f78b4", schema.EC_SANITATION: "#33a02c", schema.EC_DISPUTE: "#e31a1c",
    schema.EC_ELDERLY_CARE: "#6a3d9a", schema.EC_SAFETY: "#ff7f00", schema.EC_OTHER: "#6b7280",
}
#: Age of an open event in days: <7, 7–29, ≥30 → marker size class 0, 1, 2 (older issues draw larger).
ISSUE_AGE_BREAKS: Final = (7, 30)
ISSUE_SIZES: Final = (18, 24, 30)


def classify(values: Iterable[float], breaks: Sequence[float]) -> np.ndarray:
    """Class index of each value: 0 below breaks[0], i for breaks[i-1] <= v < breaks[i], len(breaks) above.

    NaN gets -1 (no data).
    """
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    out = np.digitize(arr, np.asarray(breaks, dtype=float), right=False)
    out[np.isnan(arr)] = -1
    return out


def class_colors(values: Iterable[float], breaks: Sequence[float], palette: Sequence[str],
                 no_data: str = NO_DATA_COLOR) -> list[str]:
    """Colour of each value by class; NaN → `no_data`."""
    if len(palette) != len(breaks) + 1:
        raise ValueError(f"palette: expected {len(breaks) + 1} colours for {len(breaks)} breaks, got {len(palette)}")
    lookup = np.asarray([*palette, no_data], dtype=object)   # index -1 → no_data
    return lookup[classify(values, breaks)].tolist()


def status_color(status: str) -> str:
    """Colour of a verification status (schema.V_*)."""
    try:
        return STATUS_COLORS[status]
    except KeyError:
        raise ValueError(f"status: expected one of {', '.join(STATUS_COLORS)}, got {status!r}") from None


def status_colors(statuses: Iterable[str]) -> list[str]:
    return [status_color(s) for s in statuses]


def flat_color(status: str, vacant: bool) -> str:
    """Colour of a 楼盘表 cell: an empty flat is grey unless something is open there."""
    if vacant and status != schema.V_OPEN_FINDINGS:
        return VACANT_COLOR
    return status_color(status)


def shares(numerators: Iterable[float], denominators: Iterable[float]) -> np.ndarray:
    """Element-wise numerator / denominator, NaN where the denominator is 0."""
    num = np.asarray(list(numerators), dtype=float)
    den = np.asarray(list(denominators), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def coverage_colors(share: Iterable[float]) -> list[str]:
    return class_colors(share, COVERAGE_BREAKS, COVERAGE_COLORS)


def coverage_color(share: float | None) -> str:
    return coverage_colors([np.nan if share is None else share])[0]


def text_color(background: str) -> str:
    """Black or white, whichever reads better on `background` (#rrggbb), by WCAG relative luminance."""
    r, g, b = (int(background[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#1f2933" if luminance > 0.30 else "#ffffff"


def event_color(category: str) -> str:
    """Marker colour of an event category (schema.EC_*); an unknown category gets the 'other' colour."""
    return EVENT_CATEGORY_COLORS.get(category, EVENT_CATEGORY_COLORS[schema.EC_OTHER])


def issue_sizes(age_days: Iterable[float]) -> list[int]:
    """Marker diameter (px) of open events by age in days (ISSUE_AGE_BREAKS); unknown age → the smallest."""
    classes = classify(age_days, ISSUE_AGE_BREAKS)
    return [ISSUE_SIZES[max(int(c), 0)] for c in classes]


#: The comparison map's sequential palette (ColorBrewer YlGnBu, 5 classes): dark = more, whatever the indicator.
SEQUENTIAL_COLORS: Final = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494")


def sequential_breaks(values: Iterable[float], n_classes: int = len(SEQUENTIAL_COLORS)) -> tuple[float, ...]:
    """Inner class breaks of equal width over the range of the known values, rounded to one more digit than the
    class width needs; () when there are fewer than two distinct values.

    Unlike the fixed breaks above, these follow the data: the comparison map shows one indicator of any unit at a
    time (shares, counts, days), and what it must show is how the communities of one street differ."""
    if n_classes < 1:
        raise ValueError(f"n_classes: expected at least 1, got {n_classes}")
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0 or arr.min() == arr.max() or n_classes == 1:
        return ()
    lo, hi = float(arr.min()), float(arr.max())
    step = (hi - lo) / n_classes
    decimals = int(-np.floor(np.log10(step))) + 1
    inner = np.round(lo + step * np.arange(1, n_classes), decimals)
    return tuple(float(b) for b in np.unique(inner) if lo < b <= hi)


def sequential_palette(n: int) -> list[str]:
    """`n` colours of SEQUENTIAL_COLORS, spread from light to dark (1 → the middle colour)."""
    if not 1 <= n <= len(SEQUENTIAL_COLORS):
        raise ValueError(f"n: expected 1..{len(SEQUENTIAL_COLORS)}, got {n}")
    if n == 1:
        return [SEQUENTIAL_COLORS[len(SEQUENTIAL_COLORS) // 2]]
    picks = np.round(np.linspace(0, len(SEQUENTIAL_COLORS) - 1, n)).astype(int)
    return [SEQUENTIAL_COLORS[i] for i in picks]


def sequential_colors(values: Iterable[float], breaks: Sequence[float]) -> list[str]:
    """Colour of each value by its class among `breaks` (from `sequential_breaks`); NaN → NO_DATA_COLOR."""
    return class_colors(values, breaks, sequential_palette(len(breaks) + 1))
