"""The app factory: `create_app(settings, engine=None) -> dash.Dash`.

One shell layout (header with the language switch, a URL location, the page area) and one router callback that
draws the page of the URL (`/`, `/community/<id>`, `/building/<id>`, `/flat/<id>`, `/street/<id>`, `/issues`, `/issue/<id>`,
`/plan`, `/audit`) for the signed-in user's scope; `/` is the street page for street-office staff, the community map
for everyone else. The map's view state travels in the URL's search string (pages/map.py).
Every callback is registered here, inside the factory, over the given engine: no module-level state, so several
gunicorn workers each build their own app. Sign-in (dashboard.auth) guards every route, callbacks included.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, dcc, html
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard import auth, config, views
from dashboard.components import common
from dashboard.i18n import normalise, translator
from dashboard.pages import approvals as approvals_page
from dashboard.pages import audit as audit_page
from dashboard.pages import building as building_page
from dashboard.pages import compare as compare_page
from dashboard.pages import data as data_page
from dashboard.pages import flat as flat_page
from dashboard.pages import issue as issue_page
from dashboard.pages import issues as issues_page
from dashboard.pages import map as map_page
from dashboard.pages import plan as plan_page
from dashboard.pages import street as street_page
from dashboard.pages import worklist as worklist_page
from geodata import schema, store
from geodata.settings import Settings

ASSETS = Path(__file__).resolve().parent / "assets"
#: Ids in paths have at most 9 digits (below inputs.MAX_ID): a longer number names no row and is not found.
ROUTES = {
    "community": re.compile(r"^/community/(\d{1,9})/?$"),
    "building": re.compile(r"^/building/(\d{1,9})/?$"),
    "flat": re.compile(r"^/flat/(\d{1,9})/?$"),
    "street": re.compile(r"^/street/(\d{1,9})/?$"),
    "issue": re.compile(r"^/issue/(\d{1,9})/?$"),
}
INDEX = """<!DOCTYPE html>
<html lang="zh-CN">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def shell(settings: Settings) -> html.Div:
    """The static frame around every page."""
    lang = normalise(settings.language)
    return html.Div([
        dcc.Location(id="url", refresh=False),
        html.Header([
            dcc.Link([html.Span("▦", className="gm-logo"), html.Span(id="app-title")], href="/",
                     className="gm-brand"),
            html.Nav(id="app-nav", className="gm-nav"),
            html.Div([
                html.Span(id="app-user", className="gm-user"),
                dcc.RadioItems(id=map_page.LANG, value=lang, inline=True, persistence=True,
                               persistence_type="local", className="gm-lang",
                               options=[{"label": config.LANGUAGE_NAMES[x], "value": x} for x in config.LANGUAGES]),
                html.A(id="logout-link", href="/logout", className="gm-logout"),
            ], className="gm-header-right"),
        ], className="gm-header"),
        html.Main(id="page", className="gm-page"),
    ], className="gm-app")


def render(engine: Engine, settings: Settings, pathname: str | None, lang: str | None,
           search: str | None = None) -> Any:
    """The page component for a path, for the current user (testable with a Flask request context)."""
    lang = normalise(lang)
    t = translator(lang)
    scope = auth.current_scope()
    path = pathname or "/"
    offset = config.display_offset(settings)
    with Session(engine) as session:
        if path in ("/", "") and (street_id := views.default_street_id(session, scope)) is not None:
            return street_page.layout(views.street_data(session, scope, street_id, offset=offset), lang, settings)
        if m := ROUTES["street"].match(path):
            return street_page.layout(views.street_data(session, scope, int(m.group(1)), offset=offset), lang,
                                      settings)
        if path in ("/", ""):
            community_id = views.default_community_id(session, scope)
            if community_id is None:
                return common.notice(t("map.no_community"), "info", id="page-empty")
            return map_page.layout(views.map_data(session, scope, community_id, offset=offset),
                                   views.visible_communities(session, scope), lang, settings, search, path)
        if m := ROUTES["community"].match(path):
            return map_page.layout(views.map_data(session, scope, int(m.group(1)), offset=offset),
                                   views.visible_communities(session, scope), lang, settings, search, path)
        if m := ROUTES["building"].match(path):
            return building_page.layout(views.building_sheet(session, scope, int(m.group(1))), lang)
        if m := ROUTES["flat"].match(path):
            return flat_page.layout(views.flat_detail(session, scope, int(m.group(1))), lang)
        if m := ROUTES["issue"].match(path):
            return issue_page.layout(views.issue_detail(session, scope, int(m.group(1))), lang)
    if path.rstrip("/") == issues_page.PATH:
        return issues_page.layout(engine, lang)
    if path.rstrip("/") == compare_page.PATH:
        return compare_page.layout(engine, lang, settings)   # checks the role itself
    if path.rstrip("/") == plan_page.PATH:
        return plan_page.layout(engine, lang, settings)   # checks the role itself
    if path.rstrip("/") == worklist_page.PATH:
        return worklist_page.layout(engine, lang)   # checks the scope itself
    if path.rstrip("/") == approvals_page.PATH:
        return approvals_page.layout(engine, lang)   # checks the role itself
    if path.rstrip("/") == audit_page.PATH:
        return html.Div(audit_page.layout(), className="gm-content")   # checks the role itself
    if path.rstrip("/") == data_page.PATH:
        return html.Div(data_page.layout(engine, settings), className="gm-content")   # checks the role itself
    return common.not_found(t)


def create_app(settings: Settings, engine: Engine | None = None) -> dash.Dash:
    """The Grid Map Dash app over `engine` (default: the settings' store, migrated)."""
    config.tile_source(settings)  # an unusable tile setting fails now, not on the first page
    engine = engine if engine is not None else store.open_store(settings.db_url)
    app = dash.Dash("dashboard", assets_folder=str(ASSETS), title="网格地图", update_title=None,
                    suppress_callback_exceptions=True, index_string=INDEX)
    app.layout = shell(settings)
    auth.init_auth(app, engine, settings)

    @app.callback(Output("page", "children"), Output("app-title", "children"), Output("app-nav", "children"),
                  Output("app-user", "children"), Output("logout-link", "children"),
                  Input("url", "pathname"), Input(map_page.LANG, "value"), State("url", "search"))
    def route(pathname, lang, search):  # type: ignore[no-untyped-def]
        t = translator(lang)
        scope = auth.current_scope()
        user = ""
        if scope is not None:
            user = f"{scope.username} · {t('role.' + scope.role, _default=schema.ROLE_LABELS.get(scope.role, ''))}"
        nav = [dcc.Link(t("nav.map"), href="/", className="gm-nav-link")]
        if scope is not None and scope.role in (schema.ROLE_STREET, schema.ROLE_COMMUNITY_ADMIN):
            with Session(engine) as session:
                nav += [dcc.Link(t("nav.street"), href=f'/street/{s["id"]}', className="gm-nav-link")
                        for s in views.visible_streets(session, scope)[:1]]
            nav.append(dcc.Link(t("nav.compare"), href=compare_page.PATH, className="gm-nav-link"))
        if scope is not None and scope.person_level:
            nav.append(dcc.Link(t("nav.plan", _default="走访路线"), href=plan_page.PATH, className="gm-nav-link"))
        if scope is not None and scope.person_level:
            nav.append(dcc.Link(t("nav.worklist", _default="入户核实"), href=worklist_page.PATH,
                                className="gm-nav-link", id="nav-worklist"))
        if scope is not None and scope.role in (schema.ROLE_COMMUNITY_ADMIN, schema.ROLE_GRID_LEADER):
            nav.append(dcc.Link(t("nav.approvals", _default="更正审批"), href=approvals_page.PATH,
                                className="gm-nav-link", id="nav-approvals"))
        if scope is not None:
            nav.append(dcc.Link(t("nav.issues"), href=issues_page.PATH, className="gm-nav-link"))
        if scope is not None and scope.role in (schema.ROLE_COMMUNITY_ADMIN, schema.ROLE_GRID_LEADER):
            nav.append(dcc.Link(t("nav.data", _default="数据导入"), href=data_page.PATH, className="gm-nav-link"))
        if scope is not None and scope.role == schema.ROLE_COMMUNITY_ADMIN:
            nav.append(dcc.Link(t("nav.audit"), href=audit_page.PATH, className="gm-nav-link"))
        return render(engine, settings, pathname, lang, search), t("app.title"), nav, user, t("nav.logout")

    map_page.register_callbacks(app, engine, settings)
    street_page.register_callbacks(app, engine)
    issues_page.register_callbacks(app, engine)
    issue_page.register_callbacks(app, engine)
    compare_page.register_callbacks(app, engine, settings)
    plan_page.register_callbacks(app, engine, settings)
    audit_page.register(app, engine)
    data_page.register(app, engine, settings)
    flat_page.register_callbacks(app, engine, settings)
    worklist_page.register_callbacks(app, engine)
    approvals_page.register_callbacks(app, engine)
    return app
