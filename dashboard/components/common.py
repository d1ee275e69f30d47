"""Reusable components: header pieces, banner, breadcrumb, chips, badges, legends, stat cards, notices.

Resident text (names, descriptions) is always passed as a component child, which Dash renders as text.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from dashboard.i18n import Translator
from geodata import schema
from layers import colors


def synthetic_banner(t: Translator) -> html.Div:
    return html.Div([html.Strong(t("banner.synthetic")), html.Span(t("banner.synthetic_note"))],
                    className="gm-banner", id="synthetic-banner")


def breadcrumb(items: Sequence[tuple[str, str | None]]) -> html.Nav:
    parts: list[Any] = []
    for i, (label, href) in enumerate(items):
        if i:
            parts.append(html.Span("›", className="gm-crumb-sep"))
        parts.append(dcc.Link(label, href=href, className="gm-crumb") if href else
                     html.Span(label, className="gm-crumb gm-crumb-current"))
    return html.Nav(parts, className="gm-breadcrumb")


def notice(text: str, kind: str = "info", **kwargs: Any) -> html.Div:
    return html.Div(text, className=f"gm-notice gm-notice-{kind}", role="alert" if kind == "error" else None,
                    **kwargs)


def denied(t: Translator) -> html.Div:
    return html.Div([html.H2(t("denied.title")), html.P(t("denied.text")),
                     dcc.Link(t("nav.back_to_map"), href="/")], className="gm-empty", id="page-denied")


def not_found(t: Translator) -> html.Div:
    return html.Div([html.H2(t("notfound.title")), html.P(t("notfound.text")),
                     dcc.Link(t("nav.back_to_map"), href="/")], className="gm-empty", id="page-notfound")


def swatch(color: str, *, shape: str = "square") -> html.Span:
    return html.Span(className=f"gm-swatch gm-swatch-{shape}", style={"backgroundColor": color})


def status_chip(status: str, t: Translator, *, vacant: bool = False) -> html.Span:
    color = colors.flat_color(status, vacant)
    label = t("flat.vacant") if vacant and status != schema.V_OPEN_FINDINGS else t(f"status.{status}")
    return html.Span(label, className="gm-chip", style={"backgroundColor": color, "color": colors.text_color(color)})


def badge(code: str, t: Translator) -> html.Span:
    return html.Span(t(f"badge.{code}"), className=f"gm-badge gm-badge-{code}", title=t(f"badge.{code}.help"))


def legend_box(title: str, items: Sequence[tuple[str, str]], *, shape: str = "square",
               **kwargs: Any) -> html.Div:
    return html.Div([html.Div(title, className="gm-legend-title"),
                     html.Ul([html.Li([swatch(c, shape=shape), html.Span(label)]) for c, label in items])],
                    className="gm-legend", **kwargs)


def stat(label: str, value: Any, *, tone: str | None = None, **kwargs: Any) -> html.Div:
    return html.Div([html.Div(str(value), className="gm-stat-value"), html.Div(label, className="gm-stat-label")],
                    className=f"gm-stat gm-stat-{tone}" if tone else "gm-stat", **kwargs)


def percent(share: float | None) -> str:
    return "–" if share is None else f"{round(share * 100)}%"


def progress(share: float | None, color: str) -> html.Div:
    width = 0 if share is None else max(0.0, min(1.0, share)) * 100
    return html.Div(html.Div(className="gm-progress-bar", style={"width": f"{width:.0f}%", "backgroundColor": color}),
                    className="gm-progress")
