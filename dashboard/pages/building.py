"""The building page (`/building/<id>`): the 楼盘表 — floors as rows (top floor first), units as columns, one
cell per flat coloured by its verification status, with badges, each linking to the flat page."""
from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard.components import common
from dashboard.i18n import labels, translator
from geodata import indicators, schema
from layers import legend


def _cell(flat: dict[str, Any] | None, t) -> html.Td:  # type: ignore[no-untyped-def]
    if flat is None:
        return html.Td(className="gm-cell gm-cell-none")
    color = flat["color"]
    body: list[Any] = [html.Div(flat["room"], className="gm-cell-room")]
    if flat["vacant"]:
        body.append(html.Div(t("flat.vacant"), className="gm-cell-name gm-muted"))
    else:
        body.append(html.Div(flat["head_name"] or "–", className="gm-cell-name"))
        body.append(html.Div(t("sheet.persons", n=flat["persons"]), className="gm-cell-persons"))
    if flat["badges"]:
        body.append(html.Div([common.badge(b, t) for b in flat["badges"]], className="gm-cell-badges"))
    return html.Td(dcc.Link(body, href=f'/flat/{flat["flat_id"]}', className="gm-cell-link",
                            title=t(f'status.{flat["status"]}')),
                   className=f'gm-cell gm-cell-{flat["status"]}' + (" gm-cell-vacant" if flat["vacant"] else ""),
                   style={"borderLeftColor": color, "backgroundColor": color + "26"},
                   id=f'flat-cell-{flat["flat_id"]}')


def layout(sheet: dict[str, Any] | None, lang: str) -> Any:
    t = translator(lang)
    if sheet is None:
        return common.denied(t)
    b = sheet["building"]
    header = html.Div([
        common.breadcrumb([(b["community"], f'/community/{b["community_id"]}'), (b["label"], None)]),
        html.Div([html.H1(b["label"], className="gm-title", id="building-title"),
                  common.status_chip(b["status"], t)], className="gm-title-row"),
        html.Div(" · ".join(x for x in (b["grid"], t("sheet.size", floors=b["floors"] or "–", units=b["units"] or "–"))
                            if x), className="gm-subtitle"),
        html.Div([
            common.stat(t("stat.households"), b["households"]),
            common.stat(t("stat.verified_n"), b["verified"], tone="good"),
            common.stat(t("stat.open_findings"), b["open_findings"], tone="bad" if b["open_findings"] else None),
            common.stat(t("stat.open_events"), b["open_events"], tone="warn" if b["open_events"] else None),
            common.stat(t("stat.elderly_60"), b["elderly_60"]),
            common.stat(t("stat.living_alone"), b["living_alone"]),
            common.stat(t("stat.party_families"), b["party_families"]),
        ], className="gm-stats gm-stats-row"),
    ], className="gm-page-head")
    banner = [common.synthetic_banner(t)] if b["synthetic"] else []
    if sheet["flats"] is None:
        return [*banner, html.Div([header, common.notice(t("sheet.aggregates_only"))], className="gm-content")]
    units = sheet["units"]
    head_top = [html.Th(t("sheet.floor"), rowSpan=2, className="gm-floor-head")] + [
        html.Th(t("sheet.unit", unit=u["unit"]), colSpan=len(u["positions"]), className="gm-unit-head")
        for u in units]
    head_sub = [html.Th(f"{p:02d}", className="gm-pos-head") for u in units for p in u["positions"]]
    body = []
    for floor in sheet["floors"]:
        cells = [_cell(f, t) for u in units for f in sheet["cells"][floor][u["unit"]]]
        body.append(html.Tr([html.Th(t("sheet.floor_n", n=floor), className="gm-floor")] + cells))
    table = html.Table([html.Thead([html.Tr(head_top), html.Tr(head_sub)]), html.Tbody(body)],
                       className="gm-sheet", id="flat-sheet")
    legends = html.Div([
        common.legend_box(t("legend.flat"), legend.flat_legend(labels(lang, "status", schema.VERIFICATION_LABELS),
                                                               t("flat.vacant"))),
        html.Div([html.Div(t("legend.badges"), className="gm-legend-title"),
                  html.Ul([html.Li([common.badge(code, t), html.Span(t(f"badge.{code}.help"))])
                           for code in indicators.BADGES])],
                 className="gm-legend"),
    ], className="gm-legend-row")
    return [*banner, html.Div([header, legends, html.Div(table, className="gm-sheet-wrap")], className="gm-content")]

