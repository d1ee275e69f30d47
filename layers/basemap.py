"""The offline base map: the community's outline and its paths, drawn where no tile layer is available."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models
from layers import geojson


def outline_geojson(session: Session, community_id: int, *, offset: str | None = None) -> dict[str, Any]:
    """The community boundary (one feature, id = community id; empty when it has no geometry)."""
    row = session.execute(select(models.Community.id, models.Community.name, models.Community.geom_wkb)
                          .where(models.Community.id == community_id)).first()
    if row is None:
        return geojson.feature_collection([], [], [])
    return geojson.feature_collection(geojson.geometries_from_wkb([row.geom_wkb]), [row.id], [{"name": row.name}],
                                      offset=offset)


def paths_geojson(session: Session, community_id: int, *, offset: str | None = None) -> dict[str, Any]:
    """Footpaths and roads of the community (id = path id)."""
    rows = session.execute(select(models.Path.id, models.Path.kind, models.Path.name, models.Path.geom_wkb)
                           .where(models.Path.community_id == community_id).order_by(models.Path.id)).all()
    return geojson.feature_collection(geojson.geometries_from_wkb([r.geom_wkb for r in rows]), [r.id for r in rows],
                                      [{"kind": r.kind, "name": r.name} for r in rows], offset=offset)
