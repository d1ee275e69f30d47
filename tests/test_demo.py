"""The demo street, loaded through the real import path: sizes, accounting, history, the summary CLI."""
from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geodata import models, schema, store


def test_lanxiang_is_loaded_as_the_story_says(lanxiang_store):
    url, manifest, _ = lanxiang_store
    engine = store.make_engine(url)
    with Session(engine) as s:
        comm = s.scalars(select(models.Community)).one()
        assert (comm.name, comm.compound, comm.synthetic, comm.street.name) == ("兰翔社区", "兰翔新村", True, "河海街道")
        assert s.scalar(select(func.count()).select_from(models.Household)) == 2567
        assert s.scalar(select(func.count()).select_from(models.Grid)) == 8
        assert 60 <= s.scalar(select(func.count()).select_from(models.Building)) <= 68
        assert s.scalar(select(func.count()).select_from(models.Building).where(models.Building.grid_id.is_(None))) == 0
        # every import balanced, every problem kept with where and why
        for b in s.scalars(select(models.ImportBatch)):
            assert b.rows_read == b.imported + b.quarantined + b.skipped, b.file_name
        flagged = s.scalar(select(func.count()).select_from(models.Person)
                           .where(models.Person.id_status == schema.ID_EXCEL_FLOAT))
        assert flagged > 0  # Excel-mangled IDs imported and flagged, not repaired
        assert s.scalar(select(func.count()).select_from(models.QuarantineRow)
                        .where(models.QuarantineRow.column == schema.ID_NUMBER)) >= flagged
        # a few months of history: visits (some households verified), issues, care contacts
        assert s.scalar(select(func.count()).select_from(models.Visit)) > 100
        assert 15 <= s.scalar(select(func.count()).select_from(models.Event)) <= 30 * 5
        assert s.scalar(select(func.count()).select_from(models.CareContact)) > 0
        verified = s.scalar(select(func.count()).select_from(models.Household)
                            .where(models.Household.verified_at.is_not(None)))
        assert 0 < verified < 2567


def test_summary_json_keys(lanxiang_store):
    url, _, _ = lanxiang_store
    out = subprocess.run([sys.executable, "-m", "geodata", "summary", "--json"], capture_output=True, text=True,
                         env={"GRIDMAP_DB": url, "PATH": "/usr/bin:/bin"}, check=True).stdout
    rows = json.loads(out)
    assert [set(r) for r in rows] == [{"name", "street", "grids", "buildings", "flats", "households", "persons",
                                       "verified_share", "findings", "open_issues"}]
    r = rows[0]
    assert (r["name"], r["street"], r["households"], r["grids"]) == ("兰翔社区", "河海街道", 2567, 8)
    assert 0 < r["verified_share"] < 1 and isinstance(r["findings"], dict)


def test_small_community_loads_the_same_on_both_backends(db_url, tmp_path):
    """The whole import path (geodata, register, checkpoint, reconciliation, history) on SQLite and PostGIS."""
    from geodata import indicators
    from geodata.settings import load_settings
    from loaders import demo
    settings = load_settings(db_url=db_url, demo_dir=str(tmp_path / "raw"))
    engine = store.make_engine(db_url)
    manifest = demo.build_demo(engine, settings, reset=True, only=["汇景社区"], progress=None)
    with Session(engine) as s:
        (row,) = indicators.community_summary(s)
        assert (row["name"], row["households"]) == ("汇景社区", manifest["communities"][0]["households"])
        assert row["buildings"] > 0 and row["persons"] > row["households"]
        assert s.scalar(select(func.count()).select_from(models.Building).where(models.Building.grid_id.is_(None))) == 0
    engine.dispose()


def test_buildings_land_within_a_metre_of_truth_after_crs_handling(tmp_path):
    """Files in EPSG:4549 (GBK shapefile) and GCJ-02 (Gaode-digitised GeoJSON) come back to the true positions."""
    import geopandas as gpd
    import shapely

    from geodata import synthetic
    from geodata.settings import load_settings
    from loaders import demo
    plans = {p.name: p for p in synthetic.plan_street()}
    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = store.make_engine(url)
    manifest = demo.build_demo(engine, load_settings(db_url=url, demo_dir=str(tmp_path / "raw")), reset=True,
                               only=["汇景社区", "河海社区"], progress=None)
    crs_seen = {c["buildings"].get("crs") for c in manifest["communities"]}
    assert "gcj02" in crs_seen  # at least one community's footprints were digitised on a GCJ-02 map
    with Session(engine) as s:
        for c in manifest["communities"]:
            truth = {str(b.number): b.footprint for b in synthetic.community_geometry(plans[c["name"]]).buildings}
            rows = s.execute(select(models.Building.number, models.Building.geom_wkb).join(models.Community)
                             .where(models.Community.name == c["name"])).all()
            stored = gpd.GeoSeries([store.from_wkb(w) for _, w in rows], crs=schema.STORE_CRS).to_crs(schema.METRIC_CRS)
            offsets = [shapely.centroid(g).distance(shapely.centroid(truth[n])) for (n, _), g in zip(rows, stored)]
            assert len(offsets) == len(truth) and max(offsets) < 1.0, (c["name"], max(offsets))
    engine.dispose()
