"""PostGIS: a generated geometry column with a GiST index beside each stored WKB.

On PostgreSQL, `geom` is computed from `geom_wkb` (EPSG:4326), so spatial SQL and desktop GIS (QGIS) can use the
store directly while the application reads and writes WKB alike on every backend. No-op on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("community", "grid", "building", "path")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN geom geometry(Geometry, 4326) "
                   f"GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromWKB(geom_wkb), 4326)) STORED")
        op.execute(f"CREATE INDEX ix_{table}_geom ON {table} USING gist (geom)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_geom")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS geom")
