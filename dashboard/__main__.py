"""`python -m dashboard [serve] [--host H] [--port N] [--db URL]` and `python -m dashboard users …`.

serve (the default): open (and migrate) the store; on an empty store load the synthetic demo street first
(loaders.demo); create the first admin / demo accounts (dashboard.auth.bootstrap_users); then serve the app,
while a background thread computes the street-office comparison's summaries that are not kept yet
(geodata.summaries.warm).
users: account management, implemented in dashboard/users.py.
"""
from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from geodata import store
from geodata.errors import GridMapError
from geodata.settings import load_settings

COMMANDS = ("serve", "users")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard", description="网格地图 (Grid Map) dashboard")
    sub = p.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve the dashboard (default)")
    serve.add_argument("--host", help="address to listen on (default GRIDMAP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default GRIDMAP_PORT or 8050)")
    serve.add_argument("--db", help="store URL (default GRIDMAP_DB or the SQLite file in var/)")
    serve.add_argument("--debug", action="store_true", help="Dash debug mode (reloader off, dev tools on)")
    # Listed for --help only: main() hands `users …` to dashboard/users.py before this parser runs.
    sub.add_parser("users", help="manage user accounts (add, list, disable, enable, reset-password); "
                                 "python -m dashboard users --help")
    return p


def ensure_data(engine, settings) -> None:  # type: ignore[no-untyped-def]
    """Load the demo street into an empty store (imported lazily: loaders are only needed then)."""
    if not store.is_empty(engine):
        return
    print("数据库为空，正在载入演示街道（合成数据）…\n"
          "The store is empty: loading the synthetic demo street…", flush=True)
    try:
        from loaders import demo
    except ImportError as exc:  # an installation without the demo generator still serves (an empty store)
        print(f"演示数据生成器不可用 (demo generator unavailable): {exc}", file=sys.stderr)
        return
    demo.build_demo(engine, settings, progress=print)


def _warm(engine) -> None:  # type: ignore[no-untyped-def]
    from geodata import summaries
    try:
        summaries.warm(engine)
    except Exception:   # noqa: BLE001 - a summary not kept is computed on demand; serving goes on
        summaries.LOG.exception("comparison summaries not computed ahead")


def serve(args: argparse.Namespace) -> int:
    settings = load_settings(host=args.host, port=args.port, db_url=args.db)
    from dashboard import auth
    from dashboard.app import create_app
    engine = store.open_store(settings.db_url)
    ensure_data(engine, settings)
    auth.bootstrap_users(engine)
    app = create_app(settings, engine)
    threading.Thread(target=_warm, args=(engine,), name="compare-summaries", daemon=True).start()
    print(f"网格地图: http://{settings.host}:{settings.port}/", flush=True)
    app.run(host=settings.host, port=settings.port, debug=args.debug, use_reloader=False,
            dev_tools_disable_version_check=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    try:
        if argv[0] == "users":
            # --- users hook: dashboard/users.py parses its own arguments; imported only when used ---
            from dashboard import users
            return users.main(argv[1:])
        return serve(parser().parse_args(argv))
    except GridMapError as exc:
        print(f"错误 (error): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
