"""Sign-in for the dashboard: Flask-Login on Dash's Flask server, the login / logout / password pages, and the
guard that requires a signed-in user on every other route (pages, `/_dash-*` callbacks, assets, downloads).

The login page is plain Flask-rendered HTML (inline CSS, no Dash), so every Dash route can require login.
Not signed in: pages redirect to /login, `/_dash-*` and non-GET requests get 401 JSON with no data.
Sessions: a signed cookie (HttpOnly, SameSite=Lax, Secure when `settings.cookie_secure`), ended after
`settings.session_minutes` without a request, and ended at once when the password changes or the account is
disabled (the session carries a fingerprint of the password hash). Login and password forms carry a CSRF token.
Callbacks call `current_scope()` / `require_scope()` and check each id with `geodata.access.*_visible`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import dash
import flask
import flask_login
from dash.exceptions import PreventUpdate
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geodata import access, models, schema, store
from geodata.errors import AccessDenied, GridMapError
from geodata.settings import ROOT, Settings

EXTENSION = "gridmap_auth"
SECRET_KEY_PATH = ROOT / "var" / "secret_key"
SESSION_COOKIE = "gridmap_session"
_SEEN = "_gm_seen"      # epoch seconds of the last request (inactivity expiry)
_CSRF = "_gm_csrf"
_LANG = "_gm_lang"

TEXT = {
    "zh": {"title": "网格地图 · 登录", "heading": "网格地图", "sub": "社区网格化管理", "username": "用户名",
           "password": "密码", "submit": "登录", "other_lang": "English", "demo": "演示账户",
           "demo_note": "密码已在服务启动时打印在控制台。", "expired": "登录已过期，请重新登录。",
           "logged_out": "已退出登录。", "csrf": "页面已过期，请重试。",
           access.MSG_BAD_LOGIN: access.MSG_BAD_LOGIN, access.MSG_LOCKED: access.MSG_LOCKED,
           "pw_title": "网格地图 · 修改密码", "pw_heading": "修改密码", "pw_must": "首次登录或密码已重置，请设置新密码。",
           "pw_old": "原密码", "pw_new": "新密码", "pw_confirm": "确认新密码", "pw_submit": "保存",
           "pw_mismatch": "两次输入的新密码不一致。", "logout": "退出登录"},
    "en": {"title": "Grid Map · Sign in", "heading": "Grid Map", "sub": "Community grid management",
           "username": "Username", "password": "Password", "submit": "Sign in", "other_lang": "中文",
           "demo": "Demo accounts", "demo_note": "Passwords were printed on the console at start-up.",
           "expired": "Your session expired; please sign in again.", "logged_out": "Signed out.",
           "csrf": "The page expired; please try again.",
           access.MSG_BAD_LOGIN: "Wrong username or password.",
           access.MSG_LOCKED: "Account locked; try again in 15 minutes.",
           "pw_title": "Grid Map · Change password", "pw_heading": "Change password",
           "pw_must": "First sign-in or password reset: please choose a new password.",
           "pw_old": "Current password", "pw_new": "New password", "pw_confirm": "Confirm new password",
           "pw_submit": "Save", "pw_mismatch": "The new passwords differ.", "logout": "Sign out"},
}

_PAGE = """<!doctype html>
<html lang="{{ 'en' if lang == 'en' else 'zh-CN' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ t.title if form == 'login' else t.pw_title }}</title>
<style>
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;background:#f3f5f7;margin:0}
main{max-width:22rem;margin:10vh auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{margin:0 0 .2rem;font-size:1.5rem}.sub{color:#667;margin:0 0 1.5rem}
label{display:block;margin:.8rem 0 .3rem}input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.7rem;font-size:1rem;background:#1f6feb;color:#fff;border:0;border-radius:4px}
.error{color:#b42318;background:#fef3f2;padding:.5rem;border-radius:4px}.note{color:#445;background:#eef4ff;padding:.5rem;border-radius:4px}
.demo{margin-top:1.5rem;font-size:.9rem;color:#445}.lang{float:right;font-size:.9rem}
</style></head><body><main>
<a class="lang" id="login-lang" href="?lang={{ 'zh' if lang == 'en' else 'en' }}{% if next %}&amp;next={{ next|urlencode }}{% endif %}">{{ t.other_lang }}</a>
{% if form == 'login' %}
<h1>{{ t.heading }}</h1><p class="sub">{{ t.sub }}</p>
{% if message %}<p class="note" id="login-message">{{ message }}</p>{% endif %}
{% if error %}<p class="error" id="login-error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}" autocomplete="on">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="next" value="{{ next }}">
<input type="hidden" name="lang" value="{{ lang }}">
<label for="login-username">{{ t.username }}</label>
<input id="login-username" name="username" autocomplete="username" required autofocus value="{{ username }}">
<label for="login-password">{{ t.password }}</label>
<input id="login-password" name="password" type="password" autocomplete="current-password" required>
<button id="login-submit" type="submit">{{ t.submit }}</button>
</form>
{% if demo %}<div class="demo" id="login-demo"><strong>{{ t.demo }}</strong><ul>
{% for name, label in demo %}<li><code>{{ name }}</code>（{{ label }}）</li>{% endfor %}</ul>{{ t.demo_note }}</div>{% endif %}
{% else %}
<h1>{{ t.pw_heading }}</h1><p class="sub">{{ username }}</p>
{% if message %}<p class="note" id="password-message">{{ message }}</p>{% endif %}
{% if error %}<p class="error" id="password-error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="lang" value="{{ lang }}">
<label for="password-old">{{ t.pw_old }}</label>
<input id="password-old" name="old" type="password" autocomplete="current-password" required>
<label for="password-new">{{ t.pw_new }}</label>
<input id="password-new" name="new" type="password" autocomplete="new-password" required minlength="{{ minlen }}">
<label for="password-confirm">{{ t.pw_confirm }}</label>
<input id="password-confirm" name="confirm" type="password" autocomplete="new-password" required>
<button id="password-submit" type="submit">{{ t.pw_submit }}</button>
</form>
<form method="post" action="{{ logout }}"><input type="hidden" name="csrf" value="{{ csrf }}">
<button id="password-logout" type="submit" style="background:#667">{{ t.logout }}</button></form>
{% endif %}
</main></body></html>"""


@dataclasses.dataclass(frozen=True)
class _State:
    engine: Engine
    settings: Settings
    prefix: str          # routes prefix, e.g. "/"
    url_prefix: str      # requests prefix as the browser sees it


class SessionUser(flask_login.UserMixin):
    """The signed-in user as Flask-Login sees it: no password hash, only a fingerprint of it."""

    def __init__(self, user: models.User) -> None:
        self.user_id = user.id
        self.username = user.username
        self.display_name = user.display_name or user.username
        self.role = user.role
        self.must_change_password = bool(user.must_change_password)
        self._token = f"{user.id}:{access.session_fingerprint(user)}"

    def get_id(self) -> str:
        return self._token


class NotSignedIn(PreventUpdate):
    """Raised by `require_scope` in a callback without a signed-in user: Dash answers 204, nothing updates."""


# --- set-up ------------------------------------------------------------------------------------

def _state() -> _State:
    return flask.current_app.extensions[EXTENSION]


def persistent_secret_key(path: Path = SECRET_KEY_PATH) -> str:
    """A random key kept in `path` (mode 0600), created atomically so that parallel workers agree on one key."""
    path = Path(path)
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # atomic; fails if another process won the race
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def init_auth(app: dash.Dash, engine: Engine, settings: Settings, *, secret_key_path: Path | None = None) -> None:
    """Require sign-in on every route of `app` except the login page; add /login, /logout and /password."""
    server = app.server
    state = _State(engine=engine, settings=settings, prefix=app.config.routes_pathname_prefix or "/",
                   url_prefix=app.config.requests_pathname_prefix or "/")
    server.extensions[EXTENSION] = state
    server.secret_key = settings.secret_key or persistent_secret_key(secret_key_path or SECRET_KEY_PATH)
    secure = bool(getattr(settings, "cookie_secure", False))
    server.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure, REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure, PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True)

    manager = flask_login.LoginManager()
    # "basic", not "strong": grid workers move between Wi-Fi and mobile data, which changes their address.
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    manager.init_app(server)

    server.add_url_rule(f"{state.prefix}login", "gridmap_login", _login_view, methods=["GET", "POST"])
    server.add_url_rule(f"{state.prefix}logout", "gridmap_logout", _logout_view, methods=["GET", "POST"])
    server.add_url_rule(f"{state.prefix}password", "gridmap_password", _password_view, methods=["GET", "POST"])
    server.before_request(_guard)
    server.after_request(_headers)


def bootstrap_users(engine: Engine, *, demo_community: str = "兰翔社区",
                    out: Callable[[str], None] = print) -> None:
    """At start-up (once, before workers fork): demo accounts on a demo store, else a first admin on a store
    without users. Prints the new passwords once through `out` (the console, never the application log)."""
    with store.session_scope(engine) as s:
        lines: list[str] = []
        if access.demo_mode(s):
            try:
                created = access.ensure_demo_users(s, demo_community)
            except GridMapError as exc:
                created = []
                out(f"演示账户未创建: {exc}")
            if created:
                lines.append(f"演示账户（{schema.SYNTHETIC_LABEL}，密码只显示这一次）:")
                lines += [f"  {name:<12} {pw}  {role}" for name, role, pw in created]
        first = access.ensure_first_admin(s)
        if first:
            lines.append("新安装：已创建管理员账户（首次登录须修改密码；密码只显示这一次）:")
            lines.append(f"  {first[0]}  {first[1]}")
    for line in lines:
        out(line)


# --- per request -------------------------------------------------------------------------------

def _load_user(token: str) -> SessionUser | None:
    try:
        user_id, fingerprint = token.split(":", 1)
        user_id_int = int(user_id)
    except ValueError:
        return None
    with Session(_state().engine) as s:
        user = s.get(models.User, user_id_int)
        if user is None or not user.active or not hmac.compare_digest(access.session_fingerprint(user), fingerprint):
            return None
        return SessionUser(user)


def _is_api(path: str) -> bool:
    prefix = _state().prefix
    return (path.startswith(f"{prefix}_dash") or path.startswith(f"{prefix}_reload-hash")
            or flask.request.method not in ("GET", "HEAD") or flask.request.is_json)


def _url(name: str) -> str:
    return f"{_state().url_prefix}{name}"


def _safe_next(value: str | None) -> str | None:
    """Only same-site relative paths: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def _deny(reason: str, status: int = 401) -> flask.Response:
    path = flask.request.path
    if _is_api(path):
        response = flask.jsonify({"error": reason, "login": _url("login")})
        response.status_code = status
        return response
    if reason == "password_change_required":
        return flask.redirect(_url("password"))
    target = flask.request.full_path.rstrip("?")
    query = f"?next={quote(target)}" if target not in ("/", _state().url_prefix) else ""
    if reason == "expired":
        query += ("&" if query else "?") + "expired=1"
    return flask.redirect(_url("login") + query)


def _guard() -> flask.Response | None:
    state = _state()
    path = flask.request.path
    if path == f"{state.prefix}login":
        return None
    if path == f"{state.prefix}favicon.ico":  # browsers ask for it on the login page; Dash uses /_favicon.ico
        return flask.Response(status=204)
    user = flask_login.current_user
    if not user.is_authenticated:
        return _deny("login_required")
    now = time.time()
    seen = flask.session.get(_SEEN)
    if not isinstance(seen, (int, float)) or now - seen > state.settings.session_minutes * 60:
        flask_login.logout_user()
        flask.session.clear()
        return _deny("expired")
    flask.session[_SEEN] = int(now)
    flask.session.permanent = True
    if user.must_change_password and path not in (f"{state.prefix}password", f"{state.prefix}logout"):
        return _deny("password_change_required", 403)
    return None


def _headers(response: flask.Response) -> flask.Response:
    path = flask.request.path
    prefix = _state().prefix
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if path in (f"{prefix}login", f"{prefix}password", f"{prefix}logout", f"{prefix}_dash-update-component",
                f"{prefix}_dash-layout") or response.status_code == 401:
        # Personal data and sign-in pages stay out of shared computers' caches.
        response.headers["Cache-Control"] = "no-store"
    if path in (f"{prefix}login", f"{prefix}password"):
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def _lang() -> str:
    lang = flask.request.values.get("lang") or flask.session.get(_LANG) or _state().settings.language
    return "en" if lang == "en" else "zh"


def _csrf_token() -> str:
    token = flask.session.get(_CSRF)
    if not token:
        token = flask.session[_CSRF] = secrets.token_urlsafe(24)
    return token


def _csrf_ok() -> bool:
    token = flask.session.get(_CSRF)
    return bool(token) and hmac.compare_digest(token, flask.request.form.get("csrf", ""))


def _render(form: str, *, status: int = 200, **values: object) -> flask.Response:
    lang = _lang()
    defaults = {"lang": lang, "t": TEXT[lang], "form": form, "csrf": _csrf_token(), "error": None, "message": None,
                "next": "", "username": "", "demo": [], "minlen": access.MIN_PASSWORD_LENGTH,
                "action": _url(form), "logout": _url("logout")}
    defaults.update(values)
    response = flask.make_response(flask.render_template_string(_PAGE, **defaults), status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def _demo_hint() -> list[tuple[str, str]]:
    with Session(_state().engine) as s:
        return access.demo_usernames(s) if access.demo_mode(s) else []


def _sign_in(user: SessionUser, lang: str) -> None:
    flask.session.clear()
    flask_login.login_user(user)
    flask.session.permanent = True
    flask.session[_SEEN] = int(time.time())
    flask.session[_LANG] = lang


def _login_view() -> flask.Response:
    lang = _lang()
    t = TEXT[lang]
    next_url = _safe_next(flask.request.values.get("next")) or ""
    if flask.request.method == "GET":
        if flask_login.current_user.is_authenticated:
            return flask.redirect(next_url or _state().url_prefix)
        message = t["expired"] if flask.request.args.get("expired") else (
            t["logged_out"] if flask.request.args.get("bye") else None)
        return _render("login", next=next_url, message=message, demo=_demo_hint())
    username = flask.request.form.get("username", "").strip()[:64]
    if not _csrf_ok():
        return _render("login", status=400, error=t["csrf"], next=next_url, username=username, demo=_demo_hint())
    password = flask.request.form.get("password", "")
    try:
        with Session(_state().engine) as s:
            user = SessionUser(access.authenticate(s, username, password))
    except AccessDenied as exc:
        error = t.get(str(exc), t[access.MSG_BAD_LOGIN])
        return _render("login", status=401, error=error, next=next_url, username=username, demo=_demo_hint())
    _sign_in(user, lang)
    if user.must_change_password:
        return flask.redirect(_url("password"))
    return flask.redirect(next_url or _state().url_prefix)


def _logout_view() -> flask.Response:
    lang = flask.session.get(_LANG)
    flask_login.logout_user()
    flask.session.clear()
    suffix = "?bye=1" + (f"&lang={lang}" if lang else "")
    return flask.redirect(_url("login") + suffix)


def _password_view() -> flask.Response:
    user = flask_login.current_user
    t = TEXT[_lang()]
    message = t["pw_must"] if user.must_change_password else None
    if flask.request.method == "GET":
        return _render("password", username=user.username, message=message)
    if not _csrf_ok():
        return _render("password", status=400, username=user.username, error=t["csrf"])
    old, new = flask.request.form.get("old", ""), flask.request.form.get("new", "")
    if new != flask.request.form.get("confirm", ""):
        return _render("password", status=400, username=user.username, message=message, error=t["pw_mismatch"])
    try:
        with store.session_scope(_state().engine) as s:
            changed = SessionUser(access.change_password(s, user.username, old, new))
    except GridMapError as exc:  # AccessDenied included: wrong current password
        return _render("password", status=400, username=user.username, message=message, error=str(exc))
    _sign_in(changed, _lang())  # the password fingerprint changed: a fresh session token
    return flask.redirect(_state().url_prefix)


# --- for callbacks -----------------------------------------------------------------------------

def current_scope() -> access.Scope | None:
    """The signed-in user's scope for this request (looked up once per request), or None."""
    if not flask.has_request_context():
        return None
    if "gridmap_scope" in flask.g:
        return flask.g.gridmap_scope
    scope = None
    user = flask_login.current_user
    if user.is_authenticated and not user.must_change_password:
        with Session(_state().engine) as s:
            try:
                scope = access.scope_for(s, user.username)
            except AccessDenied:
                scope = None
    flask.g.gridmap_scope = scope
    return scope


def require_scope() -> access.Scope:
    """The scope, or NotSignedIn (a PreventUpdate: the callback updates nothing)."""
    scope = current_scope()
    if scope is None:
        raise NotSignedIn()
    return scope
