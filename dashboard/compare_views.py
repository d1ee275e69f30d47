"""The comparison page's data (`/compare`): the communities of a street side by side, aggregates only.

Pure functions over a Session and an `access.Scope` (no Dash): the page (dashboard/pages/compare.py) turns their
plain, JSON-able output into a table, charts and a map; tests call them directly.

Who: street-office staff (their street) and community admins (the street of their community: the other
communities as aggregates, the street's median and their own rank). Grid leaders and workers get None.
What: `geodata.compare` indicators — counts, shares, rates, never a person, a flat or a building; every cell built
on fewer than 5 households is suppressed there and shown here as '<5'. Community names and ids are the only
labels; a community id links to the community map only when the scope may open it.
Time: a table as of one day, optionally against a second day (values then and the change); a line per community
over SERIES_POINTS days from the street's first verification visit to the as-of day. Frames are computed once
per call and date (`_Frames`, a per-request memo), never kept between requests.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geodata import access, compare, indicators, models, schema
from geodata.compare import BY_KEY, SUFFIX_CHANGE, SUFFIX_PREV, SUFFIX_RANK
from layers import colors, geojson

#: Roles that may open the comparison (aggregates only).
ROLES: Final = (schema.ROLE_STREET, schema.ROLE_COMMUNITY_ADMIN)
DEFAULT_KEY: Final = "verified_share"
#: The small multiples beside the chosen indicator: the first SMALL_MULTIPLES of these that are not the chosen one.
HEADLINE_KEYS: Final = ("verified_share", "open_findings", "living_alone", "elderly_share", "open_issues",
                        "median_days_to_close", "visits_per_worker_week")
SMALL_MULTIPLES: Final = 6
#: Context columns of the on-screen table after the chosen indicator (the export holds every indicator).
TABLE_KEYS: Final = ("households", "verified_share", "open_findings", "living_alone", "elderly_share",
                     "open_issues", "median_days_to_close")
#: Days of the trend lines (first visit .. as-of, evenly spaced).
SERIES_POINTS: Final = 7
#: A street without any visit: the lines cover this many days before the as-of day.
SERIES_FALLBACK_DAYS: Final = 42
#: Row field suffix of a cell's display text (the grid shows it; the number sorts).
TEXT: Final = "__text"
MEDIAN_ID: Final = "median"
NO_VALUE: Final = "–"
EXPORT_REASON: Final = "街道社区对比"


# --- Who may compare what ------------------------------------------------------------------------------------------

def allowed(scope: access.Scope | None) -> bool:
    return scope is not None and scope.role in ROLES and bool(scope.street_ids)


def compare_streets(session: Session, scope: access.Scope | None) -> list[dict[str, Any]]:
    """Streets the scope may compare (id, name, synthetic), by name; [] for grid roles and strangers."""
    if not allowed(scope):
        return []
    rows = session.execute(select(models.Street.id, models.Street.name, models.Street.synthetic)
                           .where(models.Street.id.in_(scope.street_ids)).order_by(models.Street.name)).all()
    return [{"id": r[0], "name": r[1], "synthetic": bool(r[2])} for r in rows]


def street_allowed(scope: access.Scope | None, street_id: int | None) -> bool:
    return allowed(scope) and street_id is not None and int(street_id) in scope.street_ids


def street_bounds(session: Session, street_id: int, *, offset: str | None = None) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the street's community polygons (the map's first view), or None."""
    rows = session.execute(select(models.Community.id, models.Community.geom_wkb)
                           .where(models.Community.street_id == street_id)).all()
    fc = geojson.feature_collection(geojson.geometries_from_wkb([r[1] for r in rows]), [r[0] for r in rows],
                                    offset=offset)
    return geojson.bounds(fc)


# --- Formatting ----------------------------------------------------------------------------------------------------

def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def format_value(key: str, value: float | None, *, change: bool = False) -> str:
    """A cell as text: shares '25.2%' (their change in points, '+3.1'), counts '1,234', rates '12.3'; '–' unknown."""
    if not _known(value):
        return NO_VALUE
    value = float(value)
    unit = BY_KEY[key].unit
    sign = "+" if change else ""
    if unit == compare.U_SHARE:
        return f"{value * 100:{sign}.1f}" if change else f"{value * 100:.1f}%"
    if unit in (compare.U_HOUSEHOLDS, compare.U_PERSONS, compare.U_COUNT) and value.is_integer():
        return f"{int(value):{sign},d}"
    return f"{value:{sign},.1f}"


def _jsonable(value: Any) -> float | None:
    return float(value) if _known(value) and not isinstance(value, str) else None


# --- Dates ---------------------------------------------------------------------------------------------------------

def activity_range(session: Session, street_id: int) -> tuple[dt.date, dt.date] | None:
    """(first, last) local day of the street's verification visits, or None without any."""
    first, last = session.execute(
        select(func.min(models.Visit.at), func.max(models.Visit.at))
        .join(models.Flat, models.Flat.id == models.Visit.flat_id)
        .join(models.Building, models.Building.id == models.Flat.building_id)
        .join(models.Community, models.Community.id == models.Building.community_id)
        .where(models.Community.street_id == street_id)).one()
    if first is None:
        return None
    return indicators.local_time(first).date(), indicators.local_time(last).date()


def default_as_of(activity: tuple[dt.date, dt.date] | None, today: dt.date) -> dt.date:
    """Today; but on a store whose last visit is more than a reporting window old (an archive, the demo), that
    day, so the page opens on the data rather than on weeks of nothing."""
    if activity is None or (today - activity[1]).days <= compare.WINDOW_DAYS:
        return today
    return activity[1]


def series_dates(start: dt.date, end: dt.date, points: int = SERIES_POINTS) -> list[dt.date]:
    """`points` days evenly spread from `start` to `end` (both included, no repeats); [end] when start >= end."""
    if start >= end or points < 2:
        return [end]
    span = (end - start).days
    days = sorted({round(i * span / (points - 1)) for i in range(points)})
    return [start + dt.timedelta(days=d) for d in days]


# --- Frames (per-request memo) -------------------------------------------------------------------------------------

class _Frames:
    """community_indicators of one street by day, computed at most once per call."""

    def __init__(self, session: Session, street_id: int) -> None:
        self.session, self.street_id = session, street_id
        self._by_day: dict[dt.date, pd.DataFrame] = {}

    def __call__(self, day: dt.date) -> pd.DataFrame:
        if day not in self._by_day:
            self._by_day[day] = compare.community_indicators(self.session, self.street_id, as_of=day)
        return self._by_day[day]


def with_change(now: pd.DataFrame, then: pd.DataFrame) -> pd.DataFrame:
    """What `compare.compare_periods` returns, from two frames already computed (so the as-of frame serves the
    table, the charts and the trend lines)."""
    return compare.combine_periods(now, then)


def _community_ids(session: Session, street_id: int) -> dict[str, int]:
    """Community name → id within one street (names are unique there, and are compare's row labels)."""
    return {name: cid for cid, name in session.execute(
        select(models.Community.id, models.Community.name).where(models.Community.street_id == street_id))}


def community_id_by_name(session: Session, scope: access.Scope | None, street_id: int, name: str) -> int | None:
    """The id of the community called `name` in a street the scope may compare (a table click), else None."""
    return _community_ids(session, street_id).get(name) if street_allowed(scope, street_id) else None


def ranked_table(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """`frame` with a rank column per indicator and the median row last; rows by the rank of `key` (best first,
    suppressed values last, ties by name), the median row still last."""
    table = compare.with_median_and_rank(frame, ranks=True)
    median_label = table.attrs["median_row"]
    body = table.drop(index=median_label)
    order = body.assign(_name=body.index).sort_values([key + SUFFIX_RANK, "_name"], na_position="last").index
    out = pd.concat([body.loc[order], table.loc[[median_label]]])
    out.index.name = table.index.name
    out.attrs = dict(table.attrs)
    return out


# --- The page's data -----------------------------------------------------------------------------------------------

def _cell(row: dict[str, Any], field: str, key: str, value: Any, suppressed: bool, hidden: str, *,
          change: bool = False) -> None:
    row[field] = None if suppressed else _jsonable(value)
    row[field + TEXT] = hidden if suppressed else format_value(key, value, change=change)


def _columns(key: str, against: bool) -> list[dict[str, Any]]:
    """Table columns after rank and community: the chosen indicator (then, change), then the context keys."""
    columns = [{"field": key, "key": key, "kind": "value"}]
    if against:
        columns += [{"field": key + SUFFIX_PREV, "key": key, "kind": "prev"},
                    {"field": key + SUFFIX_CHANGE, "key": key, "kind": "change"}]
    columns += [{"field": k, "key": k, "kind": "value"} for k in TABLE_KEYS if k != key]
    return columns


def _indicator(key: str) -> dict[str, Any]:
    ind = BY_KEY[key]
    return {"key": ind.key, "label_zh": ind.label_zh, "label_en": ind.label_en, "unit": ind.unit,
            "higher_is_better": ind.higher_is_better}


def compare_data(session: Session, scope: access.Scope | None, street_id: int, *, key: str = DEFAULT_KEY,
                 as_of: dt.date | None = None, against: dt.date | None = None, series: bool = True,
                 offset: str | None = None, today: dt.date | None = None) -> dict[str, Any] | None:
    """Everything the comparison page draws, for one street and indicator; None when the scope may not compare
    that street (grid roles, another street) or the street does not exist.

    Keys: street, indicator, as_of, against, first_visit, rows (one per community, best first:
    community_id, community, link, rank, and per column field its value and field + TEXT), median (same fields),
    columns, bars (the chosen indicator then SMALL_MULTIPLES others), series (days, lines, median), map (GeoJSON with a
    colour and text per community, legend classes, bounds), suppress_text. No person, flat or building anywhere.
    """
    if key not in BY_KEY:
        raise ValueError(f"key: expected one of {', '.join(compare.INDICATOR_KEYS)}, got {key!r}")
    street = session.get(models.Street, street_id) if street_allowed(scope, street_id) else None
    if street is None:
        return None
    today = today or indicators.local_today()
    activity = activity_range(session, street_id)
    as_of = as_of or default_as_of(activity, today)
    frames = _Frames(session, street_id)
    now = frames(as_of)
    frame = with_change(now, frames(against)) if against is not None else now
    table = ranked_table(frame, key)
    hidden = f"<{table.attrs.get('suppress_below', compare.SUPPRESS_BELOW)}"
    suppressed = {(r, c) for r, c in table.attrs["suppressed"]}
    median_label = table.attrs["median_row"]
    ids = _community_ids(session, street_id)
    openable = access.visible_community_ids(session, scope)
    columns = _columns(key, against is not None)

    rows: list[dict[str, Any]] = []
    median: dict[str, Any] = {"community_id": MEDIAN_ID, "community": median_label, "link": False, "rank": None}
    for label, values in table.iterrows():
        is_median = label == median_label
        row = median if is_median else {
            "community_id": ids[label], "community": label, "link": ids[label] in openable,
            "rank": None if pd.isna(values[key + SUFFIX_RANK]) else int(values[key + SUFFIX_RANK])}
        for col in columns:
            _cell(row, col["field"], col["key"], values[col["field"]], (label, col["field"]) in suppressed, hidden,
                  change=col["kind"] == "change")
        if not is_median:
            rows.append(row)

    body = table.drop(index=median_label)
    small = [k for k in HEADLINE_KEYS if k != key][:SMALL_MULTIPLES]
    bars = [{"key": k, "indicator": _indicator(k),
             "median": _jsonable(table.at[median_label, k]),
             "median_text": format_value(k, table.at[median_label, k]),
             "values": [{"community_id": ids[label], "community": label,
                         "value": None if (label, k) in suppressed else _jsonable(body.at[label, k]),
                         "text": hidden if (label, k) in suppressed else format_value(k, body.at[label, k]),
                         "suppressed": (label, k) in suppressed} for label in body.index]}
            for k in (key, *small)]

    # Map colours from the chosen indicator's shown values; the bars of the chosen indicator use the same ones.
    shown = [v["value"] for v in bars[0]["values"]]
    breaks = colors.sequential_breaks([np.nan if v is None else v for v in shown])
    fills = colors.sequential_colors([np.nan if v is None else v for v in shown], breaks)
    for item, fill in zip(bars[0]["values"], fills):
        item["color"] = fill
    if against is not None:   # the chosen indicator's value on the second day, and the change, beside each bar
        for item, label in zip(bars[0]["values"], body.index):
            for field, change in ((key + SUFFIX_PREV, False), (key + SUFFIX_CHANGE, True)):
                hide = (label, field) in suppressed
                name = "prev" if not change else "change"
                item[name] = None if hide else _jsonable(body.at[label, field])
                item[name + "_text"] = hidden if hide else format_value(key, body.at[label, field], change=change)
    out = {"street": {"id": street.id, "label": street.name, "synthetic": bool(table.attrs.get("synthetic"))},
           "indicator": _indicator(key), "as_of": as_of.isoformat(),
           "against": against.isoformat() if against is not None else None,
           "first_visit": activity[0].isoformat() if activity else None,
           "suppress_text": hidden, "rows": rows, "median": median, "columns": columns, "bars": bars,
           "map": _map(session, street_id, bars[0]["values"], breaks, key, offset=offset)}
    out["series"] = _series(frames, key, ids, activity, as_of) if series else None
    return out


def _legend(key: str, breaks: Sequence[float], any_missing: bool) -> dict[str, Any]:
    palette = colors.sequential_palette(len(breaks) + 1)
    text = [format_value(key, b) for b in breaks]
    if not breaks:
        labels = ["—"]
    else:
        labels = ([f"< {text[0]}"] + [f"{lo} – {hi}" for lo, hi in zip(text, text[1:])] + [f"≥ {text[-1]}"])
    return {"classes": list(zip(palette, labels)), "no_data": colors.NO_DATA_COLOR if any_missing else None}


def _map(session: Session, street_id: int, values: list[dict[str, Any]], breaks: Sequence[float], key: str, *,
         offset: str | None) -> dict[str, Any]:
    """Community polygons (id = community id) with the chosen indicator's colour and text; aggregates only."""
    geoms = dict(session.execute(select(models.Community.id, models.Community.geom_wkb)
                                 .where(models.Community.street_id == street_id)).all())
    ids = [v["community_id"] for v in values]
    props = [{"community": v["community"], "text": v["text"], "color": v["color"]} for v in values]
    fc = geojson.feature_collection(geojson.geometries_from_wkb([geoms.get(i) for i in ids]), ids, props,
                                    offset=offset)
    return {"geojson": fc, "bounds": geojson.bounds(fc),
            "legend": _legend(key, breaks, any(v["value"] is None for v in values))}


def _series(frames: _Frames, key: str, ids: dict[str, int], activity: tuple[dt.date, dt.date] | None,
            as_of: dt.date) -> dict[str, Any]:
    """The chosen indicator per community on SERIES_POINTS days from the first visit to the as-of day."""
    start = activity[0] if activity is not None and activity[0] < as_of else as_of - dt.timedelta(
        days=SERIES_FALLBACK_DAYS)
    days = series_dates(start, as_of)
    per_day = [frames(d) for d in days]
    hidden_sets = [{tuple(p) for p in frame.attrs["suppressed"]} for frame in per_day]
    lines = []
    for label in per_day[-1].index:
        values, texts = [], []
        for frame, hidden_set in zip(per_day, hidden_sets):
            hidden = (label, key) in hidden_set
            v = None if hidden or label not in frame.index else _jsonable(frame.at[label, key])
            values.append(v)
            texts.append(f"<{frame.attrs['suppress_below']}" if hidden else format_value(key, v))
        lines.append({"community_id": ids[label], "community": label, "values": values, "texts": texts})
    median = [_jsonable(frame[key].median()) for frame in per_day]
    return {"days": [d.isoformat() for d in days], "lines": lines, "median": median}


# --- Exports -------------------------------------------------------------------------------------------------------

def export_table(session: Session, street_id: int, key: str, as_of: dt.date,
                 against: dt.date | None = None) -> pd.DataFrame:
    """The export's table: every indicator (with `against`, its value then and the change), the chosen
    indicator's columns and rank first, rows by that rank, the street's median last."""
    frames = _Frames(session, street_id)
    frame = with_change(frames(as_of), frames(against)) if against is not None else frames(as_of)
    table = ranked_table(frame, key)
    first = [c for c in (key, key + SUFFIX_PREV, key + SUFFIX_CHANGE, key + SUFFIX_RANK) if c in table.columns]
    rest = [c for c in table.columns if c not in first and not c.endswith(SUFFIX_RANK)]
    out = table[first + rest]
    out.attrs = dict(table.attrs)
    return out


def _log_export(session: Session, scope: access.Scope, street_id: int, fmt: str, key: str, as_of: dt.date,
                against: dt.date | None, rows: int, name: str) -> None:
    access.log_audit(session, scope.username, schema.A_EXPORT, compare.TARGET_STREET, street_id,
                     reason=EXPORT_REASON,
                     detail=json.dumps({"export": "compare", "format": fmt, "file": name, "indicator": key,
                                        "as_of": as_of.isoformat(),
                                        "against": against.isoformat() if against else None, "rows": rows},
                                       ensure_ascii=False))


def _file_name(street: str, key: str, as_of: dt.date, suffix: str) -> str:
    return f"{street}-社区对比-{BY_KEY[key].label_zh.split('（')[0]}-{as_of:%Y%m%d}.{suffix}"


def export_xlsx(session: Session, scope: access.Scope | None, street_id: int, *, key: str, as_of: dt.date,
                against: dt.date | None = None) -> tuple[str, bytes] | None:
    """(file name, workbook bytes) of the comparison table (`compare.write_compare_xlsx`: '<5' cells, the
    median row, a notes sheet), logged as an export (flushed; the caller commits). None outside the scope."""
    if key not in BY_KEY:
        raise ValueError(f"key: expected one of {', '.join(compare.INDICATOR_KEYS)}, got {key!r}")
    street = session.get(models.Street, street_id) if street_allowed(scope, street_id) else None
    if street is None:
        return None
    table = export_table(session, street_id, key, as_of, against)
    name = _file_name(street.name, key, as_of, "xlsx")
    with tempfile.TemporaryDirectory() as folder:
        path = compare.write_compare_xlsx(table, Path(folder) / "compare.xlsx",
                                          synthetic=bool(table.attrs.get("synthetic")))
        body = path.read_bytes()
    _log_export(session, scope, street_id, "xlsx", key, as_of, against, len(table) - 1, name)
    return name, body


def export_png(session: Session, scope: access.Scope | None, street_id: int, *, key: str, as_of: dt.date,
               against: dt.date | None = None, lang: str = "zh", labels: dict[str, str] | None = None,
               today: dt.date | None = None) -> tuple[str, bytes] | None:
    """(file name, PNG bytes) of the charts (the chosen indicator's bars, the small multiples, the trend lines),
    drawn with matplotlib; logged as an export. None outside the scope."""
    data = compare_data(session, scope, street_id, key=key, as_of=as_of, against=against, today=today)
    if data is None:
        return None
    from dashboard import compare_png   # matplotlib: loaded on the first export only
    body = compare_png.charts_png(data, lang=lang, labels=labels or {})
    name = _file_name(data["street"]["label"], key, as_of, "png")
    _log_export(session, scope, street_id, "png", key, as_of, against, len(data["rows"]), name)
    return name, body


def parse_day(text: str | None) -> dt.date | None:
    """A date picker's value ('2020-03-25' or '2020-03-25T00:00:00') as a date; None for empty; ValueError naming
    what arrived otherwise."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        raise ValueError(f"date: expected YYYY-MM-DD, got {text!r}") from None
