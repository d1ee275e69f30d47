"""Legends as data: lists of (colour, label) pairs in display order, built from the same breaks as the colours.

Labels default to Chinese (schema labels, or language-neutral numbers such as "25–50%"); the dashboard passes its
message catalog's labels for the English UI.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from geodata import schema
from layers import colors

THEME_STATUS: Final = "status"
THEME_ELDERLY: Final = "elderly"
THEME_PARTY: Final = "party"
THEME_EVENTS: Final = "events"
THEME_FINDINGS: Final = "findings"
#: Building themes of the layer switcher, in menu order.
THEMES: Final = (THEME_STATUS, THEME_ELDERLY, THEME_PARTY, THEME_EVENTS, THEME_FINDINGS)

#: theme → (breaks, palette, kind) for the class themes; kind 'share' is a 0..1 fraction, 'count' an integer.
THEME_CLASSES: Final = {
    THEME_ELDERLY: (colors.ELDERLY_BREAKS, colors.ELDERLY_COLORS, "share"),
    THEME_PARTY: (colors.PARTY_BREAKS, colors.PARTY_COLORS, "share"),
    THEME_EVENTS: (colors.EVENT_BREAKS, colors.EVENT_COLORS, "count"),
    THEME_FINDINGS: (colors.FINDING_BREAKS, colors.FINDING_COLORS, "count"),
}


def _pct(x: float) -> str:
    return f"{round(x * 100):d}%"


def break_labels(breaks: Sequence[float], kind: str = "share") -> list[str]:
    """Labels of the len(breaks)+1 classes: shares as "<25%", "25–50%", …, "≥95%"; counts as "0", "1–2", …, "≥11"."""
    if kind == "share":
        return ([f"<{_pct(breaks[0])}"]
                + [f"{round(lo * 100):d}–{_pct(hi)}" for lo, hi in zip(breaks, breaks[1:])]
                + [f"≥{_pct(breaks[-1])}"])
    if kind == "count":
        edges = [int(b) for b in breaks]
        first = "0" if edges[0] == 1 else f"<{edges[0]}"
        middle = [str(lo) if hi - 1 == lo else f"{lo}–{hi - 1}" for lo, hi in zip(edges, edges[1:])]
        return [first, *middle, f"≥{edges[-1]}"]
    raise ValueError(f"kind: expected 'share' or 'count', got {kind!r}")


def status_legend(labels: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    labels = labels or schema.VERIFICATION_LABELS
    return [(colors.STATUS_COLORS[s], labels[s]) for s in colors.STATUS_ORDER]


def coverage_legend() -> list[tuple[str, str]]:
    return list(zip(colors.COVERAGE_COLORS, break_labels(colors.COVERAGE_BREAKS, "share")))


def legend(theme: str, labels: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(colour, label) pairs of a building theme; `labels` overrides the status labels (schema.V_* → text)."""
    if theme == THEME_STATUS:
        return status_legend(labels)
    if theme not in THEME_CLASSES:
        raise ValueError(f"theme: expected one of {', '.join(THEMES)}, got {theme!r}")
    breaks, palette, kind = THEME_CLASSES[theme]
    return list(zip(palette, break_labels(breaks, kind)))


def flat_legend(labels: Mapping[str, str] | None = None, vacant_label: str = "空置") -> list[tuple[str, str]]:
    """Legend of the 楼盘表 cells: the statuses plus empty flats."""
    return [*status_legend(labels), (colors.VACANT_COLOR, vacant_label)]
