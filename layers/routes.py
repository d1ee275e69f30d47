"""Visit routes on the map: a colour per worker and route points in display coordinates.

Route points come from geodata.routing in WGS84 longitude/latitude; this is the one place they become Leaflet's
[lat, lon] in display coordinates (GCJ-02 when the base map needs it, see layers.geojson).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from geodata import schema
from layers import geojson

#: One colour per worker of a plan (ColorBrewer Dark2, readable on the pale map and printable); reused cyclically.
WORKER_COLORS: Final = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
#: A stop recorded today (its marker and list row); buildings visited today on the progress map.
DONE_COLOR: Final = "#2e9d5b"
#: Buildings of the grid without a visit today, on the progress map.
IDLE_COLOR: Final = "#c5ccd3"
#: Buildings with a planned stop today that nobody has visited yet, on the progress map.
PLANNED_COLOR: Final = "#f0a830"


def worker_color(worker: int) -> str:
    """The colour of worker `worker` (1-based) of a plan."""
    if worker < 1:
        raise ValueError(f"worker: expected 1 or more, got {worker}")
    return WORKER_COLORS[(worker - 1) % len(WORKER_COLORS)]


def display_latlon(points: Sequence[Sequence[float | None]], *, offset: str | None = None,
                   precision: int = geojson.PRECISION) -> list[list[float] | None]:
    """WGS84 (lon, lat) points → Leaflet [lat, lon] in display coordinates; a point without coordinates → None."""
    out: list[list[float] | None] = [None] * len(points)
    present = [i for i, p in enumerate(points) if p is not None and p[0] is not None and p[1] is not None]
    if not present:
        return out
    lon = np.array([float(points[i][0]) for i in present])
    lat = np.array([float(points[i][1]) for i in present])
    if offset is not None:
        if offset != schema.GCJ02:
            raise ValueError(f"offset: expected None or {schema.GCJ02!r}, got {offset!r}")
        lon, lat = geojson.wgs84_to_gcj02(lon, lat)
    for i, x, y in zip(present, np.round(lon, precision), np.round(lat, precision)):
        out[i] = [float(y), float(x)]
    return out
