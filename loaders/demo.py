"""The demo street: generate its raw files (geodata.synthetic), then import them as a community would.

Grids, buildings, the per-grid Excel register and the checkpoint table go through the same loaders users run;
then the street's few months of history (verification visits, resident issues, care contacts) are recorded
through the same domain functions the dashboard calls. Everything is marked synthetic (演示数据).
"""
from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from geodata import indicators, models, reconcile, schema, store, synthetic, verification
from geodata.settings import Settings
from loaders import areas, checkpoint, geo, register

Progress = Callable[[str], None]


def reset_store(engine: Engine) -> None:
    """Drop every table of the store (the demo is rebuilt from scratch), then migrate to the newest schema."""
    with engine.begin() as conn:
        models.Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.migrate(engine)


def build_demo(engine: Engine, settings: Settings, *, reset: bool = False, only: Sequence[str] | None = None,
               progress: Progress | None = print) -> dict:
    """Generate the synthetic street into settings.demo_dir and load it. Returns the manifest."""
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    if reset:
        reset_store(engine)
    else:
        store.migrate(engine)
    out = Path(settings.demo_dir)
    say(f"生成演示街道的原始文件 | generating the demo street's raw files → {out}")
    manifest = synthetic.generate_street(out, only=only)
    n = len(manifest["communities"])
    for i, c in enumerate(manifest["communities"], start=1):
        say(f"[{i}/{n}] 导入 {c['name']}（{c['households']} 户）| importing {c['name']}")
        load_community(engine, out, manifest, c)
    say(f"演示街道已载入，用时 {time.perf_counter() - t0:.0f} 秒 | demo street loaded in "
        f"{time.perf_counter() - t0:.0f} s")
    return manifest


def load_community(engine: Engine, out: Path, manifest: dict, c: dict) -> None:
    name = c["name"]
    g = c["grids"]
    areas.import_grids(engine, name, out / g["path"], street=manifest["street"], crs=g.get("crs"),
                       encoding=g.get("encoding"), code_field=g.get("code_field"), name_field=g.get("name_field"),
                       synthetic=True, community_code=c.get("code"), compound=c.get("compound"), by="demo")
    if c.get("boundary"):
        set_boundary(engine, name, out / c["boundary"]["path"], crs=c["boundary"].get("crs"))
    b = c["buildings"]
    areas.import_buildings(engine, name, out / b["path"], crs=b.get("crs"), encoding=b.get("encoding"),
                           number_field=b.get("number_field"), by="demo")
    register.import_register(engine, name, out / c["register"]["path"], by="demo")
    checkpoint.import_checkpoint(engine, name, out / c["checkpoint"]["path"], by="demo")
    with store.session_scope(engine) as s:
        street = s.scalars(select(models.Street).where(models.Street.name == manifest["street"])).one()
        street.code, street.district, street.synthetic = manifest.get("street_code"), manifest.get("district"), True
    if c.get("paths"):
        load_paths(engine, name, out / c["paths"]["path"], crs=c["paths"].get("crs"))
    with store.session_scope(engine) as s:
        comm = areas.find_community(s, name)
        reconcile.reconcile(s, comm.id, as_of=dt.date.fromisoformat(manifest.get("as_of", "2020-03-25")))
    if c.get("history"):
        apply_history(engine, name, json.loads((out / c["history"]).read_text(encoding="utf-8")))


def set_boundary(engine: Engine, community: str, path: Path, *, crs: str | None = None) -> None:
    gdf = geo.to_wgs84(geo.read_vector(path), crs)
    with store.session_scope(engine) as s:
        comm = areas.find_community(s, community)
        comm.geom_wkb = store.to_wkb(gdf.geometry.union_all())


def load_paths(engine: Engine, community: str, path: Path, *, crs: str | None = None) -> None:
    gdf: gpd.GeoDataFrame = geo.to_wgs84(geo.read_vector(path), crs)
    kind_col = next((c for c in ("kind", "类型", "type") if c in gdf.columns), None)
    name_col = next((c for c in ("name", "名称") if c in gdf.columns), None)
    with store.session_scope(engine) as s:
        comm = areas.find_community(s, community)
        s.add_all(models.Path(community_id=comm.id, kind=str(r[kind_col]) if kind_col else None,
                              name=str(r[name_col]) if name_col else None, geom_wkb=store.to_wkb(r["geometry"]))
                  for _, r in gdf.iterrows())


def _flat_index(s: Session, community_id: int) -> dict[tuple[str, int, str], models.Flat]:
    return {(f.building.number, f.unit, f.room): f for f in s.scalars(
        select(models.Flat).join(models.Building).where(models.Building.community_id == community_id))}


def _when(value: str) -> dt.datetime:
    """history.json's China local time (a date alone: 10:00) as the store keeps time: naive UTC."""
    local = dt.datetime.fromisoformat(value) if "T" in value or " " in value else \
        dt.datetime.combine(dt.date.fromisoformat(value), dt.time(10, 0))
    return local.replace(tzinfo=indicators.LOCAL_TZ).astimezone(dt.timezone.utc).replace(tzinfo=None)


def apply_history(engine: Engine, community: str, hist: dict) -> dict[str, int]:
    """Record the demo's visits, issues and care contacts; entries naming a flat the store lacks are counted."""
    counts = {"visits": 0, "events": 0, "care": 0, "unplaced": 0}
    with store.session_scope(engine) as s:
        comm = areas.find_community(s, community)
        flats = _flat_index(s, comm.id)

        def household_at(e: dict) -> tuple[models.Flat | None, models.Household | None]:
            flat = flats.get((str(e["building"]), int(e["unit"]), str(e["room"])))
            if flat is None:
                return None, None
            hh = next((h for h in flat.households if h.active), None)
            return flat, hh

        for v in sorted(hist.get("visits", []), key=lambda e: e["date"]):
            flat, hh = household_at(v)
            if hh is None:
                counts["unplaced"] += 1
                continue
            verification.record_visit(s, hh.id, by=v.get("worker") or "demo", method=v["method"],
                                      result=v["result"], note=v.get("note"), at=_when(v["date"]))
            counts["visits"] += 1
        for e in hist.get("events", []):
            flat, _ = household_at(e)
            if flat is None:
                counts["unplaced"] += 1
                continue
            event = models.Event(community_id=comm.id, building_id=flat.building_id, flat_id=flat.id,
                                 category=e["category"], description=e["description"], reporter=e.get("reporter"),
                                 state=schema.E_REPORTED, reported_at=_when(e["reported_at"]))
            s.add(event)
            s.flush()
            s.add(models.EventTransition(event_id=event.id, from_state=None, to_state=schema.E_REPORTED,
                                         at=event.reported_at, by=e.get("reporter"), comment="居民上报"))
            for t in e.get("transitions", []):
                s.add(models.EventTransition(event_id=event.id, from_state=event.state, to_state=t["to"],
                                             at=_when(t["at"]), by=t.get("by"), comment=t.get("comment")))
                event.state = t["to"]
                if t["to"] == schema.E_CLOSED:
                    event.closed_at = _when(t["at"])
            counts["events"] += 1
        for c in hist.get("care", hist.get("care_contacts", [])):
            flat, hh = household_at(c)
            if hh is None:
                counts["unplaced"] += 1
                continue
            s.add(models.CareContact(household_id=hh.id, at=_when(c["date"]), by=c.get("worker"),
                                     method=c["method"], outcome=c["outcome"], concern=c.get("concern")))
            counts["care"] += 1
    return counts
