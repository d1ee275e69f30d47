"""The street page (`/street/<id>`, and `/` for street-office staff): the street's communities as polygons coloured
by verification coverage, with labels and a table of aggregates. A click opens the community's map.

Aggregates only (households, verified share, open mismatches, open issues): no persons, so it serves
schema.ROLE_STREET as well as community admins.
"""
from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import Input, Output, dcc, html, no_update
from sqlalchemy import Engine

from dashboard import config, inputs
from dashboard.components import common
from dashboard.i18n import translator
from geodata.settings import Settings
from layers import legend

PATH = "/street"
MAP = "street-map"
COMMUNITIES = "communities-layer"


def _js(name: str) -> dict[str, str]:
    return {"variable": f"gridmap.{name}"}


def _map(data: dict[str, Any], settings: Settings) -> dl.Map:
    children: list[Any] = []
    source = config.tile_source(settings)
    if source is not None:
        children.append(dl.TileLayer(**config.tile_layer_props(source)))
    children += [dl.GeoJSON(id=COMMUNITIES, data=data["communities"], style=_js("styleCommunity"),
                            onEachFeature=_js("labelCommunity"), hideout={"selected": None}),
                 dl.ScaleControl(position="bottomleft", imperial=False)]
    view: dict[str, Any] = {"center": list(config.DEFAULT_CENTER), "zoom": config.DEFAULT_ZOOM}
    if data["bounds"]:
        view = {"bounds": data["bounds"], "boundsOptions": config.BOUNDS_OPTIONS}
    return dl.Map(id=MAP, children=children, **view, trackViewport=False, maxZoom=config.MAX_ZOOM, zoomSnap=0.25,
                  attributionControl=source is not None, className="gm-map")


def layout(data: dict[str, Any] | None, lang: str, settings: Settings) -> Any:
    t = translator(lang)
    if data is None:
        return common.denied(t)
    totals = data["totals"]
    rows = [html.Tr([
        html.Td([common.swatch(r["color"]), dcc.Link(r["name"], href=f'/community/{r["community_id"]}')]),
        html.Td(f'{r["verified"]}/{r["households"]}', className="gm-num"),
        html.Td([common.progress(r["share"], "#3182bd"), html.Span(common.percent(r["share"]), className="gm-num")],
                className="gm-progress-cell"),
        html.Td(str(r["open_mismatches"]), className="gm-num"),
        html.Td(str(r["open_events"]), className="gm-num"),
    ], id=f'street-row-{r["community_id"]}') for r in data["rows"]]
    table = html.Table([html.Thead(html.Tr([html.Th(t("street.community")), html.Th(t("coverage.verified_of")),
                                            html.Th(t("coverage.share")), html.Th(t("stat.open_mismatches")),
                                            html.Th(t("stat.open_events"))])),
                        html.Tbody(rows)], className="gm-table gm-coverage", id="street-table")
    side = html.Aside([
        html.Div([html.H1(data["street"]["name"], className="gm-title", id="street-title"),
                  html.Div(data["street"]["district"] or "", className="gm-subtitle")], className="gm-side-head"),
        html.Div([common.stat(t("street.communities"), totals["communities"]),
                  common.stat(t("stat.households"), totals["households"]),
                  common.stat(t("stat.verified"), common.percent(totals["share"]), tone="good"),
                  common.stat(t("stat.open_mismatches"), totals["open_mismatches"],
                              tone="bad" if totals["open_mismatches"] else None),
                  common.stat(t("stat.open_events"), totals["open_events"],
                              tone="warn" if totals["open_events"] else None)], className="gm-stats"),
        html.P(t("street.hint"), className="gm-hint"),
        table,
    ], className="gm-side gm-side-wide")
    controls = html.Div(common.legend_box(t("street.legend"), legend.coverage_legend()),
                        className="gm-map-controls", id="street-legend")
    page = html.Div([html.Div([_map(data, settings), controls], className="gm-map-wrap"), side],
                    className="gm-map-page", id="street-page")
    return [common.synthetic_banner(t), page] if data["street"]["synthetic"] else page


def register_callbacks(app, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    @app.callback(Output("url", "pathname", allow_duplicate=True), Output("url", "search", allow_duplicate=True),
                  Input(COMMUNITIES, "clickData"), prevent_initial_call=True)
    @inputs.checked()
    def open_community(click):  # type: ignore[no-untyped-def]
        community_id = inputs.optional_id(inputs.properties(click).get("id"), "community")
        if community_id is None:
            return no_update, no_update
        return f"/community/{community_id}", ""
