"""Settings of Grid Map: one declarative table, each with a default and a one-line help.

The environment is read only here, by `load_settings` (called at the edges: CLIs and the app factory).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The repository (or installation) root; the default store lives under it in var/.
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = ROOT / "var" / "gridmap.db"


@dataclasses.dataclass(frozen=True)
class Settings:
    db_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    host: str = "127.0.0.1"
    port: int = 8050
    require_approval: bool = False
    demo_dir: str = str(ROOT / "var" / "demo")
    secret_key: str = ""
    session_minutes: int = 60
    cookie_secure: bool = False
    max_upload_mb: int = 30
    upload_dir: str = str(ROOT / "var" / "uploads")
    tiles: str = "none"
    tianditu_key: str = ""
    language: str = "zh"


#: name -> (environment variable, help)
SETTINGS_HELP: dict[str, tuple[str, str]] = {
    "db_url": ("GRIDMAP_DB", "SQLAlchemy URL of the store: default an SQLite file in var/; "
                             "postgresql+psycopg://user@host/db for PostGIS"),
    "host": ("GRIDMAP_HOST", "address the dashboard listens on"),
    "port": ("GRIDMAP_PORT", "port the dashboard listens on"),
    "require_approval": ("GRIDMAP_REQUIRE_APPROVAL", "1: register corrections wait for a grid leader's approval"),
    "demo_dir": ("GRIDMAP_DEMO_DIR", "where the demo street's raw files are written"),
    "secret_key": ("GRIDMAP_SECRET_KEY", "session-signing key; empty: a random key kept in var/secret_key"),
    "session_minutes": ("GRIDMAP_SESSION_MINUTES", "minutes of inactivity before a session expires"),
    "cookie_secure": ("GRIDMAP_COOKIE_SECURE", "1: send the session cookie only over HTTPS"),
    "max_upload_mb": ("GRIDMAP_MAX_UPLOAD_MB", "largest file accepted by the data page, in MB"),
    "upload_dir": ("GRIDMAP_UPLOAD_DIR", "where the data page keeps uploads and import-job records (shared by "
                                         "every worker process; uploads are deleted after import or 6 hours)"),
    "tiles": ("GRIDMAP_TILES", "base map tiles: none (offline default), osm, tianditu, gaode"),
    "tianditu_key": ("GRIDMAP_TIANDITU_KEY", "Tianditu key, needed for tiles=tianditu"),
    "language": ("GRIDMAP_LANG", "default UI language: zh or en"),
}


def _convert(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(value)
    return value


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults, then the environment, then explicit overrides (CLI flags)."""
    env = os.environ if env is None else env
    defaults = Settings()
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        var = SETTINGS_HELP[field.name][0]
        if env.get(var):
            values[field.name] = _convert(env[var], getattr(defaults, field.name))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(defaults, **values)
