"""Kept-ahead comparison counts: a data version per community, bumped by triggers, and the cached summaries.

`compare_version` holds one row per community. A trigger bumps its `version` whenever a row the street-office
comparison counts changes: a household, a person, a flat or building moved, a finding, a visit.
`compare_summary` keeps each community's as-of-independent distributions (see geodata.summaries). These are the
birth dates, verification days, finding lifetimes and visit days, stamped with the version they were computed at.
A summary whose stamp is not the community's current version is computed again. Nothing the application writes
can leave a stale one in use, even a hand-written SQL UPDATE.

SQLite: row triggers (an UPDATE fires only when a counted column really changed).
PostgreSQL: a statement trigger with a transition table for INSERT (COPY imports fire it once, not per row), row
triggers with a WHEN condition for UPDATE and DELETE. A transaction bumps each community once: `xact` remembers
which transaction did it last.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: How a row of each table finds its community: a SQL expression over the row alias `{r}`.
VIA = {
    "direct": "{r}.community_id",
    "building": "(SELECT b.community_id FROM building b WHERE b.id = {r}.building_id)",
    "flat": "(SELECT b.community_id FROM flat f JOIN building b ON b.id = f.building_id WHERE f.id = {r}.flat_id)",
    "household": ("(SELECT b.community_id FROM household h JOIN flat f ON f.id = h.flat_id "
                  "JOIN building b ON b.id = f.building_id WHERE h.id = {r}.household_id)"),
}
#: The same as joins from the transition table `r` of a statement trigger (PostgreSQL plans them as hash joins: a
#: COPY of 100,000 persons costs one join, not 100,000 lookups).
JOIN_VIA = {
    "direct": "SELECT DISTINCT r.community_id FROM new_rows r",
    "building": "SELECT DISTINCT b.community_id FROM new_rows r JOIN building b ON b.id = r.building_id",
    "flat": ("SELECT DISTINCT b.community_id FROM new_rows r JOIN flat f ON f.id = r.flat_id "
             "JOIN building b ON b.id = f.building_id"),
    "household": ("SELECT DISTINCT b.community_id FROM new_rows r JOIN household h ON h.id = r.household_id "
                  "JOIN flat f ON f.id = h.flat_id JOIN building b ON b.id = f.building_id"),
}
#: table -> (how it finds its community, the columns the comparison reads, whether an insert changes counts).
WATCHED = {
    "household": ("flat", ("flat_id", "active", "verified_at"), True),
    "person": ("household", ("household_id", "active", "birth_date", "political_status", "phone", "phone2",
                             "id_status"), True),
    "flat": ("building", ("building_id",), False),          # a new flat holds nobody yet
    "building": ("direct", ("community_id",), False),
    "finding": ("direct", ("community_id", "category", "status", "run_as_of", "created_at", "closed_at"), True),
    "visit": ("flat", ("flat_id", "at", "by"), True),
}


def _community(table: str, row: str) -> str:
    return VIA[WATCHED[table][0]].format(r=row)


def _changed(columns: tuple[str, ...], distinct: str) -> str:
    return " OR ".join(f'OLD."{c}" {distinct} NEW."{c}"' for c in columns)


def _sqlite_triggers() -> list[str]:
    bump = "UPDATE compare_version SET version = version + 1 WHERE community_id IN ({ids});"
    out = ["CREATE TRIGGER compare_version_new_community AFTER INSERT ON community BEGIN "
           "INSERT INTO compare_version (community_id, version) VALUES (NEW.id, 1); END"]
    for table, (_via, columns, on_insert) in WATCHED.items():
        if on_insert:
            out.append(f"CREATE TRIGGER compare_version_{table}_ins AFTER INSERT ON {table} BEGIN "
                       + bump.format(ids=_community(table, "NEW")) + " END")
        out.append(f"CREATE TRIGGER compare_version_{table}_upd AFTER UPDATE OF "
                   + ", ".join(f'"{c}"' for c in columns) + f" ON {table} WHEN {_changed(columns, 'IS NOT')} BEGIN "
                   + bump.format(ids=f"{_community(table, 'OLD')}, {_community(table, 'NEW')}") + " END")
        out.append(f"CREATE TRIGGER compare_version_{table}_del AFTER DELETE ON {table} BEGIN "
                   + bump.format(ids=_community(table, "OLD")) + " END")
    return out


PG_BUMP = """
CREATE FUNCTION compare_version_bump(ids integer[]) RETURNS void LANGUAGE sql AS $$
    UPDATE compare_version SET version = version + 1, xact = txid_current()
    WHERE community_id = ANY(ids) AND xact IS DISTINCT FROM txid_current()
$$"""


def _pg_statements() -> list[str]:
    out = [PG_BUMP, """
CREATE FUNCTION compare_version_new_community() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO compare_version (community_id, version) VALUES (NEW.id, 1);
    RETURN NULL;
END $$""", "CREATE TRIGGER compare_version_new_community AFTER INSERT ON community FOR EACH ROW "
           "EXECUTE FUNCTION compare_version_new_community()"]
    for table, (_via, columns, on_insert) in WATCHED.items():
        if on_insert:
            out.append(f"""
CREATE FUNCTION compare_version_{table}_ins() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM compare_version_bump(ARRAY({JOIN_VIA[WATCHED[table][0]]}));
    RETURN NULL;
END $$""")
            out.append(f"CREATE TRIGGER compare_version_{table}_ins AFTER INSERT ON {table} "
                       f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION compare_version_{table}_ins()")
        out.append(f"""
CREATE FUNCTION compare_version_{table}_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM compare_version_bump(ARRAY[{_community(table, 'OLD')}]);
    ELSE
        PERFORM compare_version_bump(ARRAY[{_community(table, 'OLD')}, {_community(table, 'NEW')}]);
    END IF;
    RETURN NULL;
END $$""")
        out.append(f"CREATE TRIGGER compare_version_{table}_upd AFTER UPDATE ON {table} FOR EACH ROW "
                   f"WHEN ({_changed(columns, 'IS DISTINCT FROM')}) EXECUTE FUNCTION compare_version_{table}_row()")
        out.append(f"CREATE TRIGGER compare_version_{table}_del AFTER DELETE ON {table} FOR EACH ROW "
                   f"EXECUTE FUNCTION compare_version_{table}_row()")
    return out


def upgrade() -> None:
    op.create_table(
        "compare_version",
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("xact", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "compare_summary",
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.execute("INSERT INTO compare_version (community_id, version) SELECT id, 1 FROM community")
    statements = _pg_statements() if op.get_bind().dialect.name == "postgresql" else _sqlite_triggers()
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS compare_version_new_community ON community")
        op.execute("DROP FUNCTION IF EXISTS compare_version_new_community()")
        for table, (_via, _columns, on_insert) in WATCHED.items():
            for suffix in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS compare_version_{table}_{suffix} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS compare_version_{table}_ins()")
            op.execute(f"DROP FUNCTION IF EXISTS compare_version_{table}_row()")
        op.execute("DROP FUNCTION IF EXISTS compare_version_bump(integer[])")
    else:
        op.execute("DROP TRIGGER IF EXISTS compare_version_new_community")
        for table in WATCHED:
            for suffix in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS compare_version_{table}_{suffix}")
    op.drop_table("compare_summary")
    op.drop_table("compare_version")
