"""Dashboard configuration that is not a user setting: base-map tile sources, map zoom limits, page routes.

User settings (which tiles, keys, language) live in `geodata.settings`; this module turns them into what the map
needs. No remote tile layer unless settings.tiles asks for one: the default map works offline on a plain background.
"""
from __future__ import annotations

import dataclasses
from typing import Final

from geodata import schema
from geodata.settings import Settings

#: Zoom from which building numbers are drawn on the map (the JS style asset reads it from the hideout).
LABEL_MIN_ZOOM: Final = 17
MAX_ZOOM: Final = 21
#: View of a community without any geometry yet (central Changzhou).
DEFAULT_CENTER: Final = (31.81, 119.97)
DEFAULT_ZOOM: Final = 13
#: How a fitted view leaves room: the right padding keeps features clear of the layer panel floating over the map.
BOUNDS_OPTIONS: Final = {"paddingTopLeft": [24, 24], "paddingBottomRight": [236, 24]}
LANGUAGES: Final = ("zh", "en")
LANGUAGE_NAMES: Final = {"zh": "中文", "en": "English"}


@dataclasses.dataclass(frozen=True)
class TileSource:
    url: str
    attribution: str
    offset: str | None = None           # display offset the tiles need (schema.GCJ02 for Gaode)
    subdomains: str = "abc"
    max_native_zoom: int = 18


TILE_SOURCES: Final = {
    "osm": TileSource("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
                      "&copy; OpenStreetMap contributors", max_native_zoom=19),
    "tianditu": TileSource("https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                           "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                           "&TILECOL={x}&tk={key}", "&copy; 天地图", subdomains="01234567"),
    "gaode": TileSource("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                        "&x={x}&y={y}&z={z}", "&copy; 高德地图", offset=schema.GCJ02, subdomains="1234"),
}


def tile_source(settings: Settings) -> TileSource | None:
    """The configured base map, or None (settings.tiles == 'none', the offline default).

    Raises ValueError for an unknown name or tianditu without a key.
    """
    name = (settings.tiles or "none").strip().lower()
    if name == "none":
        return None
    if name not in TILE_SOURCES:
        raise ValueError(f"GRIDMAP_TILES: expected none, {', '.join(TILE_SOURCES)}, got {settings.tiles!r}")
    source = TILE_SOURCES[name]
    if name == "tianditu":
        if not settings.tianditu_key:
            raise ValueError("GRIDMAP_TILES=tianditu: expected GRIDMAP_TIANDITU_KEY to be set, got nothing")
        source = dataclasses.replace(source, url=source.url.replace("{key}", settings.tianditu_key))
    return source


def tile_layer_props(source: TileSource) -> dict[str, object]:
    """Keyword arguments of dash-leaflet's TileLayer for a tile source (pure: tested without a browser)."""
    return {"url": source.url, "attribution": source.attribution, "subdomains": source.subdomains,
            "maxNativeZoom": source.max_native_zoom, "maxZoom": MAX_ZOOM}


def display_offset(settings: Settings) -> str | None:
    """The coordinate offset geometries need to sit on the configured tiles (GCJ-02 for Gaode, else none)."""
    source = tile_source(settings)
    return source.offset if source is not None else None
