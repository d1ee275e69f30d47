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
THEME_ELDERLY: Final = "elderly"                # share of households with a member aged 60+
THEME_ELDERLY_ONLY: Final = "elderly_only"      # elderly-only households (纯老户) per building
THEME_LIVING_ALONE: Final = "living_alone"      # elderly living alone (独居老人) per building
THEME_PARTY: Final = "party"
THEME_EVENTS: Final = "events"
THEME_FINDINGS: Final = "findings"              # open findings, all or of one category (FINDING_CATEGORIES)
#: Building themes of the layer switcher, in menu order.
THEMES: Final = (THEME_STATUS, THEME_ELDERLY, THEME_ELDERLY_ONLY, THEME_LIVING_ALONE, THEME_PARTY, THEME_EVENTS,
                 THEME_FINDINGS)

#: theme → (breaks, palette, kind) for the class themes; kind 'share' is a 0..1 fraction, 'count' an integer.
THEME_CLASSES: Final = {
    THEME_ELDERLY: (colors.ELDERLY_BREAKS, colors.ELDERLY_COLORS, "share"),
    THEME_ELDERLY_ONLY: (colors.ELDERLY_ONLY_BREAKS, colors.ELDERLY_ONLY_COLORS, "count"),
    THEME_LIVING_ALONE: (colors.LIVING_ALONE_BREAKS, colors.LIVING_ALONE_COLORS, "count"),
    THEME_PARTY: (colors.PARTY_BREAKS, colors.PARTY_COLORS, "share"),
    THEME_EVENTS: (colors.EVENT_BREAKS, colors.EVENT_COLORS, "count"),
    THEME_FINDINGS: (colors.FINDING_BREAKS, colors.FINDING_COLORS, "count"),
}
#: Finding categories of the findings theme's selector (mismatches first, then the confirmations).
FINDING_CATEGORIES: Final = schema.FINDING_CATEGORIES

#: Building flags: what the filters (`only=`) select and what the glyph row of a building shows.
FLAG_ELDERLY_60: Final = "elderly_60"
FLAG_ELDERLY_ONLY: Final = "elderly_only"
FLAG_LIVING_ALONE: Final = "living_alone"
FLAG_PARTY: Final = "party"
FLAG_OPEN_ISSUES: Final = "open_issues"
FLAG_MISMATCHES: Final = "mismatches"
FLAG_NOT_VERIFIED: Final = "not_verified"
FILTERS: Final = (FLAG_NOT_VERIFIED, FLAG_MISMATCHES, FLAG_OPEN_ISSUES, FLAG_ELDERLY_60, FLAG_ELDERLY_ONLY,
                  FLAG_LIVING_ALONE, FLAG_PARTY)
#: Flags drawn as glyphs next to a building's number (several at once), in this order.
GLYPH_FLAGS: Final = (FLAG_MISMATCHES, FLAG_OPEN_ISSUES, FLAG_LIVING_ALONE, FLAG_ELDERLY_ONLY, FLAG_PARTY)


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


def mismatch_legend(label: str = "红框：有出入问题（数字为个数）") -> list[tuple[str, str]]:
    """The status map's second channel: the outline colour of buildings with open mismatch findings."""
    return [(colors.MISMATCH_COLOR, label)]


def event_category_legend(labels: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Marker colours of open events by category (schema.EC_*)."""
    labels = labels or schema.EVENT_CATEGORY_LABELS
    return [(colors.EVENT_CATEGORY_COLORS[c], labels[c]) for c in schema.EVENT_CATEGORY_LABELS]


def issue_age_legend(unit: str = "天") -> list[tuple[int, str]]:
    """(marker diameter px, label) of the event age classes: "<7天", "7–29天", "≥30天"."""
    (lo, hi) = colors.ISSUE_AGE_BREAKS
    return list(zip(colors.ISSUE_SIZES, [f"<{lo}{unit}", f"{lo}–{hi - 1}{unit}", f"≥{hi}{unit}"]))


def flat_legend(labels: Mapping[str, str] | None = None, vacant_label: str = "空置") -> list[tuple[str, str]]:
    """Legend of the 楼盘表 cells: the statuses plus empty flats."""
    return [*status_legend(labels), (colors.VACANT_COLOR, vacant_label)]
