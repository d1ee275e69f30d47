"""The map as one standalone, offline HTML file (folium), with Leaflet's JS and CSS inlined.

folium's default page loads Leaflet, jQuery, Bootstrap and fonts from CDNs, so offline it draws nothing. Here the
map class drops every default JS/CSS link and the page gets the vendored Leaflet (layers/vendor/leaflet, from the
npm package `leaflet`, BSD-2-Clause) inlined, its images as data: URIs. The result opens from a USB stick on a
computer without internet: no tiles (the community outline and grids are the base map), no remote references.

Input is `dashboard.views.map_data(..., details=True)` output (buildings carry class codes, `layers.buildings`,
and the counts for the tooltips): this module only lays it out, with the colour rule of the screen's style
function (`buildings.fill_color`), so the export shows exactly the colours of the screen.
"""
from __future__ import annotations

import base64
import functools
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
from branca.element import Element

from geodata import schema
from layers import buildings, colors, legend

VENDOR = Path(__file__).resolve().parent / "vendor" / "leaflet"
#: What must never appear in an export: a script or stylesheet fetched from the network.
REMOTE_REFERENCE = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


class OfflineMap(folium.Map):
    """A folium Map without folium's CDN scripts and stylesheets (Leaflet is inlined by `map_html`)."""
    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []


@functools.lru_cache(maxsize=1)
def _leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css with its images as data: URIs), read once per process."""
    js = (VENDOR / "leaflet.js").read_text(encoding="utf-8")
    css = (VENDOR / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        data = base64.b64encode((VENDOR / match.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    # A script body must not contain "</script>"; leaflet.js does not, but guard against a future version.
    return js.replace("</script", "<\\/script"), css


def remote_references(page: str) -> list[str]:
    """The remote script/stylesheet references of an HTML page (an offline export has none)."""
    return [m.group(0) for m in REMOTE_REFERENCE.finditer(page)]


def building_style(properties: Mapping[str, Any], theme: str, category: str | None = None,
                   categories: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The Leaflet path style of one building feature for a theme (the same rules as assets/gridmap.js);
    `categories` are the chosen category's codes (`buildings.category_classes`)."""
    fill = buildings.fill_color(properties, theme, category, categories)
    mismatch = theme == legend.THEME_STATUS and (properties.get(buildings.P_MISMATCHES) or 0) > 0
    return {"fillColor": fill, "fillOpacity": 0.92, "color": colors.MISMATCH_COLOR if mismatch else "#ffffff",
            "weight": 3 if mismatch else 1.2, "opacity": 1}


def _legend_html(title: str, items: Sequence[tuple[str, str]], extra: Sequence[tuple[str, str]] = ()) -> str:
    rows = "".join(f'<div><span style="display:inline-block;width:12px;height:12px;margin-right:6px;'
                   f'background:{html.escape(c)}"></span>{html.escape(label)}</div>' for c, label in items)
    rows += "".join(f'<div><span style="display:inline-block;width:10px;height:10px;margin-right:6px;'
                    f'border:3px solid {html.escape(c)}"></span>{html.escape(label)}</div>' for c, label in extra)
    return (f'<div class="gm-export-legend" style="position:absolute;right:12px;bottom:24px;z-index:1000;'
            f'background:#fff;padding:8px 10px;border-radius:6px;font:13px sans-serif;'
            f'box-shadow:0 1px 4px rgba(0,0,0,.3)"><b>{html.escape(title)}</b>{rows}</div>')


def map_html(data: Mapping[str, Any], *, theme: str = legend.THEME_STATUS, category: str | None = None,
             labels: Mapping[str, Any] | None = None) -> str:
    """A standalone HTML page of a community map (`views.map_data` output) in one theme.

    `labels` may give "title", "legend_title", "legend" ([(colour, text)]), "mismatch" (outline legend text),
    "tooltip" ({property: caption}); Chinese defaults otherwise.
    """
    if theme not in legend.THEMES:
        raise ValueError(f"theme: expected one of {', '.join(legend.THEMES)}, got {theme!r}")
    labels = dict(labels or {})
    community = data["community"]
    title = labels.get("title") or f'{community["name"]} · {schema.SYNTHETIC_LABEL if community.get("synthetic") else ""}'
    m = OfflineMap(location=None, tiles=None, zoom_control=True, control_scale=True, prefer_canvas=False,
                   max_zoom=21)
    js, css = _leaflet_assets()
    root = m.get_root()
    root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css", index=0)
    root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js", index=1)
    root.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="title")
    root.header.add_child(Element("<style>html,body{margin:0;height:100%}.folium-map{background:#eef1f4}"
                                  "</style>"), name="page_css")

    folium.GeoJson(data["outline"], name="outline", style_function=lambda f: {
        "fillColor": "#fbfaf6", "fillOpacity": 1, "color": "#8d99ae", "weight": 2}).add_to(m)
    if data.get("paths", {}).get("features"):
        folium.GeoJson(data["paths"], name="paths", style_function=lambda f: {
            "color": "#ffffff", "weight": 6, "opacity": 1}).add_to(m)
    folium.GeoJson(data["grids"], name="grids", style_function=lambda f: {
        "fillColor": f["properties"].get("color") or colors.NO_DATA_COLOR, "fillOpacity": 0.55,
        "color": "#2f4b7c", "weight": 2, "dashArray": "6 4"},
        tooltip=folium.GeoJsonTooltip(fields=["name", "percent"], aliases=["", "%"])).add_to(m)
    captions = {"label": "", "households": "住户", "verified": "已核实", "open_mismatches": "有出入",
                "open_events": "未办结事件", **labels.get("tooltip", {})}
    # the counts are in the features only with `map_data(..., details=True)`; without, the tooltip is the number
    first = next(iter(data["buildings"]["features"]), {}).get("properties", {})
    captions = {k: v for k, v in captions.items() if k in first} or {buildings.P_NUMBER: ""}
    chosen = data.get("category_classes", {}).get(category or "")
    folium.GeoJson(data["buildings"], name="buildings",
                   style_function=lambda f: building_style(f["properties"], theme, category, chosen),
                   tooltip=folium.GeoJsonTooltip(fields=list(captions), aliases=list(captions.values()))).add_to(m)
    for feature in data.get("issues", {}).get("features", []):
        lon, lat = feature["geometry"]["coordinates"]
        p = feature["properties"]
        folium.CircleMarker(location=[lat, lon], radius=p["size"] / 2.5, color="#ffffff", weight=2,
                            fill=True, fill_color=p["color"], fill_opacity=0.95,
                            tooltip=f'{schema.EVENT_CATEGORY_LABELS.get(p["category"], p["category"])} · '
                                    f'{p["age_days"] if p["age_days"] is not None else "?"}天').add_to(m)
    items = labels.get("legend") or legend.legend(theme)
    extra = [(colors.MISMATCH_COLOR, labels.get("mismatch") or legend.mismatch_legend()[0][1])] \
        if theme == legend.THEME_STATUS else []
    root.html.add_child(Element(_legend_html(labels.get("legend_title") or title, items, extra)))
    if data.get("bounds"):
        m.fit_bounds(data["bounds"], padding=(20, 20))
    page = root.render()
    leaks = remote_references(page)
    if leaks:   # a folium upgrade that adds a CDN dependency must fail here, not silently break offline use
        raise RuntimeError(f"offline export: expected no remote references, got {leaks[:3]}")
    return page
