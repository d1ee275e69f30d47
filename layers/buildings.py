"""The buildings layer: one feature per building carrying small class codes, not colours.

Properties of a feature (short keys: they repeat in every feature of the page, and bytes per building is a goal):

    id  building id (also the feature's id)     n  building number (the label at close zoom)
    g   grid id (the grid filter; absent: none)  c  one class digit per theme (legend.THEMES order)
    f   flags: bit i set when legend.FILTERS[i] holds (absent: none)
    m   open mismatch findings (absent: 0)       e  open events (absent: 0)

A class digit is an index into the theme's palette (`PALETTES`). The palettes travel once, in the layer's hideout
(`style_table`); the committed JS style function (assets/gridmap.js) picks the digit of the hideout's theme, so
switching theme, filtering or selecting restyles without sending geometry or properties again. The findings of one
category (`category_classes`) are a sub-view: their codes travel in the hideout, for the chosen category only.
`fill_color` is the JS rule in Python (exports, tests). With `details=True` the features also carry the label and
the counts under their indicator names, for the offline exports' tooltips.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import indicators, models
from layers import colors, geojson, legend

P_NUMBER: Final = "n"
P_GRID: Final = "g"
P_CLASSES: Final = "c"
P_FLAGS: Final = "f"
P_MISMATCHES: Final = "m"
P_EVENTS: Final = "e"
#: Indicator columns a feature carries with `details=True` (tooltips of the exports).
DETAIL_COLUMNS: Final = ("number", "label", "status", "households", "verified", "open_findings", "open_mismatches",
                         "elderly_60", "elderly_only", "living_alone", "party_families", "open_events")
#: theme → colour of each class code: the statuses in legend order, the class themes' palettes with the no-data
#: colour last (a share of a building without households).
PALETTES: Final = {
    legend.THEME_STATUS: tuple(colors.STATUS_COLORS[s] for s in colors.STATUS_ORDER),
    **{theme: (*palette, colors.NO_DATA_COLOR) for theme, (_, palette, _) in legend.THEME_CLASSES.items()},
}
_STATUS_CODES: Final = {s: i for i, s in enumerate(colors.STATUS_ORDER)}
_SHARE_THEMES: Final = ((legend.THEME_ELDERLY, "elderly_60"), (legend.THEME_PARTY, "party_families"))
_COUNT_THEMES: Final = ((legend.THEME_ELDERLY_ONLY, "elderly_only"), (legend.THEME_LIVING_ALONE, "living_alone"),
                        (legend.THEME_EVENTS, "open_events"), (legend.THEME_FINDINGS, "open_findings"))
#: flag → its rule over a `building_status` frame or one of its rows (elementwise on both).
_FLAG_RULES: Final[dict[str, Callable[[Any], Any]]] = {
    legend.FLAG_NOT_VERIFIED: lambda s: s["verified"] < s["households"],
    legend.FLAG_MISMATCHES: lambda s: s["open_mismatches"] > 0,
    legend.FLAG_OPEN_ISSUES: lambda s: s["open_events"] > 0,
    legend.FLAG_ELDERLY_60: lambda s: s["elderly_60"] > 0,
    legend.FLAG_ELDERLY_ONLY: lambda s: s["elderly_only"] > 0,
    legend.FLAG_LIVING_ALONE: lambda s: s["living_alone"] > 0,
    legend.FLAG_PARTY: lambda s: s["party_families"] > 0,
}


def style_table() -> dict[str, Any]:
    """What the JS style function needs to turn codes into colours: the constant part of the layer's hideout."""
    return {"themes": list(legend.THEMES), "palettes": {theme: list(PALETTES[theme]) for theme in legend.THEMES},
            "flags": list(legend.FILTERS)}


def theme_classes(status: pd.DataFrame) -> pd.DataFrame:
    """One class-code column per theme (legend.THEMES order) for an `indicators.building_status` frame."""
    out = pd.DataFrame(index=status.index)
    try:
        out[legend.THEME_STATUS] = [_STATUS_CODES[s] for s in status["status"]]
    except KeyError as e:
        raise ValueError(f"status: expected one of {', '.join(_STATUS_CODES)}, got {e.args[0]!r}") from None
    for theme, column in _SHARE_THEMES:
        breaks, palette, _ = legend.THEME_CLASSES[theme]
        codes = colors.classify(colors.shares(status[column], status["households"]), breaks)
        out[theme] = np.where(codes < 0, len(palette), codes)      # no households: the no-data colour
    for theme, column in _COUNT_THEMES:
        breaks, _, _ = legend.THEME_CLASSES[theme]
        out[theme] = colors.classify(status[column], breaks)
    return out[list(legend.THEMES)]


def category_classes(counts: pd.DataFrame) -> dict[str, dict[str, int]]:
    """category → {building id: class code} of the open findings of that category, from an
    `indicators.findings_by_category` frame (only non-zero buildings; ids as text, they become JSON keys)."""
    breaks, _, _ = legend.THEME_CLASSES[legend.THEME_FINDINGS]
    out: dict[str, dict[str, int]] = {}
    for building_id, category, code in zip(counts["building_id"], counts["category"],
                                           colors.classify(counts["n"], breaks)):
        out.setdefault(str(category), {})[str(int(building_id))] = int(code)
    return out


def building_flags(status: pd.DataFrame) -> list[list[str]]:
    """The legend.FILTERS codes that hold for each building of a `building_status` frame, in FILTERS order."""
    tests = {flag: np.asarray(rule(status)) for flag, rule in _FLAG_RULES.items()}
    return [[flag for flag in legend.FILTERS if tests[flag][i]] for i in range(len(status))]


def flags_of(row: Mapping[str, Any]) -> list[str]:
    """The legend.FILTERS codes that hold for one building (a row of `building_status` as a mapping)."""
    return [flag for flag in legend.FILTERS if _FLAG_RULES[flag](row)]


def flag_bits(status: pd.DataFrame) -> np.ndarray:
    """Each building's flags as a bitmask: bit i set when legend.FILTERS[i] holds."""
    bits = np.zeros(len(status), dtype=np.int64)
    for i, flag in enumerate(legend.FILTERS):
        bits |= np.asarray(_FLAG_RULES[flag](status), dtype=np.int64) << i
    return bits


def fill_color(properties: Mapping[str, Any], theme: str, category: str | None = None,
               categories: Mapping[str, int] | None = None) -> str:
    """The fill of a building feature in a theme: the same rule as the JS style function. For the findings theme
    with a category, `categories` is that category's `category_classes` entry (a building without one: zero)."""
    if theme not in PALETTES:
        raise ValueError(f"theme: expected one of {', '.join(legend.THEMES)}, got {theme!r}")
    if theme == legend.THEME_FINDINGS and category:
        code = (categories or {}).get(str(properties["id"]), 0)
    else:
        code = int(properties[P_CLASSES][legend.THEMES.index(theme)])
    return PALETTES[theme][code]


def buildings_geojson(session: Session, community_id: int, *, status: pd.DataFrame | None = None,
                      visible: Collection[int] | None = None, offset: str | None = None,
                      as_of: dt.date | None = None, details: bool = False) -> dict[str, Any]:
    """FeatureCollection of the community's buildings (only `visible` ids when given), id = building id.

    `details` adds DETAIL_COLUMNS to the properties. (Per-category codes are not in the features:
    `category_classes`.)
    """
    rows = session.execute(select(models.Building.id, models.Building.label, models.Building.geom_wkb)
                           .where(models.Building.community_id == community_id)
                           .order_by(models.Building.id)).all()
    frame = pd.DataFrame(rows, columns=["building_id", "label", "geom_wkb"])
    if visible is not None:
        frame = frame[frame["building_id"].isin(list(visible))]
    if status is None:
        status = indicators.building_status(session, community_id, as_of=as_of)
    frame = frame.merge(status, on="building_id", how="left").reset_index(drop=True)
    frame["label"] = frame["label"].where(frame["label"].notna(), frame["number"])
    classes = ["".join(map(str, codes)) for codes in theme_classes(frame).to_numpy()]
    bits = flag_bits(frame)
    details_rows = frame[list(DETAIL_COLUMNS)].to_dict("records") if details else None
    properties = []
    for i, (building_id, number, grid_id, mismatches, events) in enumerate(zip(
            frame["building_id"], frame["number"], frame["grid_id"], frame["open_mismatches"],
            frame["open_events"])):
        p: dict[str, Any] = {P_NUMBER: number, P_CLASSES: classes[i]}
        # what is zero or missing stays out: the JS reads an absent key as none
        if not pd.isna(grid_id):
            p[P_GRID] = int(grid_id)
        if bits[i]:
            p[P_FLAGS] = int(bits[i])
        if mismatches:
            p[P_MISMATCHES] = int(mismatches)
        if events:
            p[P_EVENTS] = int(events)
        if details_rows is not None:
            p.update(details_rows[i])
        properties.append(p)
    return geojson.feature_collection(geojson.geometries_from_wkb(frame["geom_wkb"]), frame["building_id"].tolist(),
                                      properties, offset=offset)
