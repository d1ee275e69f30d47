"""Indexes on finding.person_id and finding.checkpoint_id.

The flat page and verification look findings up by their persons (`person_id IN (...)`, OR-ed with the household):
without an index that is a scan of every finding in the store, for each page — about a second on a city-sized
store. Both backends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = (("ix_finding_person_id", "person_id"), ("ix_finding_checkpoint_id", "checkpoint_id"))


def upgrade() -> None:
    for name, column in INDEXES:
        op.create_index(name, "finding", [column], unique=False)


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name="finding")
