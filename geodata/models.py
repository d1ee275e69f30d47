"""The tables of the Grid Map store (SQLAlchemy 2 declarative models).

street → community → grid → building → flat (unit, floor, room) → household → person, plus what the work
around them produces: import batches and quarantined rows, checkpoint registrations, findings, visits, events
and their transitions, care contacts, users and their area scopes, the audit log and the change log; and the
street-office comparison's kept-ahead summaries with the data version that keeps them honest.
docs/MODEL.md describes each entity with its Chinese label.

Geometries are stored as WKB (EPSG:4326) in a `geom_wkb` column on every backend; on PostGIS a migration adds a
generated `geom` geometry column with a GiST index beside it (see geodata/store.py), so the ORM is identical.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Street(Base):
    __tablename__ = "street"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    district: Mapped[str | None] = mapped_column(String(64))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    communities: Mapped[list[Community]] = relationship(back_populates="street")


class Community(Base):
    __tablename__ = "community"
    id: Mapped[int] = mapped_column(primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("street.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(64))
    compound: Mapped[str | None] = mapped_column(String(64))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    geom_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)
    street: Mapped[Street] = relationship(back_populates="communities")
    grids: Mapped[list[Grid]] = relationship(back_populates="community")
    __table_args__ = (UniqueConstraint("street_id", "name"),)


class Grid(Base):
    __tablename__ = "grid"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(Integer)
    geom_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    source_row: Mapped[int | None] = mapped_column(Integer)
    community: Mapped[Community] = relationship(back_populates="grids")
    __table_args__ = (UniqueConstraint("community_id", "code"),)


class Building(Base):
    __tablename__ = "building"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    number: Mapped[str] = mapped_column(String(20))          # normalised: '12', '7A'
    label: Mapped[str | None] = mapped_column(String(64))    # as in the file: '兰翔新村12幢'
    floors: Mapped[int | None] = mapped_column(Integer)
    units: Mapped[int | None] = mapped_column(Integer)
    has_lift: Mapped[bool | None] = mapped_column(Boolean)
    geom_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    source_row: Mapped[int | None] = mapped_column(Integer)
    flats: Mapped[list[Flat]] = relationship(back_populates="building")
    __table_args__ = (UniqueConstraint("community_id", "number"),)


class Path(Base):
    """Footpaths and roads of a community (optional base map and walking network)."""
    __tablename__ = "path"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    kind: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(64))
    geom_wkb: Mapped[bytes | None] = mapped_column(LargeBinary)


class Flat(Base):
    __tablename__ = "flat"
    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), index=True)
    unit: Mapped[int] = mapped_column(Integer)          # 1..n (甲乙丙丁 = 1..4)
    floor: Mapped[int | None] = mapped_column(Integer)
    room: Mapped[str] = mapped_column(String(10))       # '502'
    residence_status: Mapped[str | None] = mapped_column(String(20))   # schema.RES_*
    building: Mapped[Building] = relationship(back_populates="flats")
    households: Mapped[list[Household]] = relationship(back_populates="flat")
    __table_args__ = (UniqueConstraint("building_id", "unit", "room"),)


class Household(Base):
    __tablename__ = "household"
    id: Mapped[int] = mapped_column(primary_key=True)
    flat_id: Mapped[int] = mapped_column(ForeignKey("flat.id"), index=True)
    head_name: Mapped[str | None] = mapped_column(String(64))
    residence_status: Mapped[str | None] = mapped_column(String(20))   # schema.RES_*
    landlord: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)        # false once moved away (kept, never deleted)
    verified_at: Mapped[dt.date | None] = mapped_column(Date)
    verified_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)           # optimistic concurrency
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    source_sheet: Mapped[str | None] = mapped_column(String(64))
    source_row: Mapped[int | None] = mapped_column(Integer)
    flat: Mapped[Flat] = relationship(back_populates="households")
    persons: Mapped[list[Person]] = relationship(back_populates="household")
    __mapper_args__ = {"version_id_col": version}


class Person(Base):
    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    relation: Mapped[str | None] = mapped_column(String(4))            # GB/T 4761 code
    relation_text: Mapped[str | None] = mapped_column(String(20))      # as written
    id_number: Mapped[str | None] = mapped_column(String(32), index=True)
    id_raw: Mapped[str | None] = mapped_column(String(64))
    id_status: Mapped[str] = mapped_column(String(20))                 # schema.ID_*
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    birth_raw: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone2: Mapped[str | None] = mapped_column(String(32))
    phone_raw: Mapped[str | None] = mapped_column(String(64))
    political_status: Mapped[str | None] = mapped_column(String(2))    # GB/T 4762 code
    hukou_type: Mapped[str | None] = mapped_column(String(10))         # schema.HUKOU_*
    note: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    source_sheet: Mapped[str | None] = mapped_column(String(64))
    source_row: Mapped[int | None] = mapped_column(Integer)
    household: Mapped[Household] = relationship(back_populates="persons")
    __mapper_args__ = {"version_id_col": version}


class ImportBatch(Base):
    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))                      # schema.K_*
    file_name: Mapped[str] = mapped_column(String(255))
    file_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[str | None] = mapped_column(Text)                  # JSON: crs, encoding, column mapping
    summary: Mapped[str | None] = mapped_column(Text)                  # JSON: diff counts etc.


class QuarantineRow(Base):
    """A rejected or skipped input row, kept with where it came from and why."""
    __tablename__ = "quarantine_row"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    sheet: Mapped[str | None] = mapped_column(String(64))
    row: Mapped[int | None] = mapped_column(Integer)                   # 1-based, as the spreadsheet shows it
    column: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="quarantined")   # quarantined | skipped | warning
    raw: Mapped[str | None] = mapped_column(Text)                      # JSON of the whole row
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class CheckpointRegistration(Base):
    __tablename__ = "checkpoint_registration"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"), index=True)
    source_sheet: Mapped[str | None] = mapped_column(String(64))
    source_row: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str | None] = mapped_column(String(32), index=True)
    id_raw: Mapped[str | None] = mapped_column(String(64))
    id_status: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_raw: Mapped[str | None] = mapped_column(String(64))
    address_raw: Mapped[str | None] = mapped_column(Text)
    building_no: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[int | None] = mapped_column(Integer)
    room: Mapped[str | None] = mapped_column(String(10))
    flat_id: Mapped[int | None] = mapped_column(ForeignKey("flat.id"), index=True)
    in_community: Mapped[bool] = mapped_column(Boolean, default=True)
    role: Mapped[str | None] = mapped_column(String(10))               # schema.CP_*
    plate: Mapped[str | None] = mapped_column(String(20))
    pass_no: Mapped[str | None] = mapped_column(String(32))
    reg_date: Mapped[dt.date | None] = mapped_column(Date)


class Finding(Base):
    __tablename__ = "finding"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)       # schema.F_*
    flat_id: Mapped[int | None] = mapped_column(ForeignKey("flat.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoint_registration.id"), index=True)
    evidence: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="open")    # schema.FINDING_*
    run_as_of: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Visit(Base):
    """A verification outcome recorded by a worker (phone call, door visit, …)."""
    __tablename__ = "visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), index=True)
    flat_id: Mapped[int] = mapped_column(ForeignKey("flat.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(20))                     # schema.M_*
    result: Mapped[str] = mapped_column(String(20))                     # schema.R_*
    corrections: Mapped[str | None] = mapped_column(Text)               # JSON {field: new value}
    note: Mapped[str | None] = mapped_column(Text)
    approval: Mapped[str | None] = mapped_column(String(20))            # None | pending | approved | rejected
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Event(Base):
    """An issue reported by a resident (事件), e.g. a leak."""
    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), index=True)
    flat_id: Mapped[int | None] = mapped_column(ForeignKey("flat.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))                   # schema.EC_*
    description: Mapped[str] = mapped_column(Text)
    reporter: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="reported")  # schema.E_*
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class EventTransition(Base):
    __tablename__ = "event_transition"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)


class CareContact(Base):
    """A check on an elderly resident living alone (window greeting, phone call, visit)."""
    __tablename__ = "care_contact"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(20))                     # schema.M_*
    outcome: Mapped[str] = mapped_column(String(20))                    # schema.CARE_*
    concern: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))                       # schema.ROLE_*
    street_id: Mapped[int | None] = mapped_column(ForeignKey("street.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UserGrid(Base):
    """Area scope of a grid leader or worker: the grids they may see."""
    __tablename__ = "user_grid"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), primary_key=True)


class AuditLog(Base):
    """Who viewed what unmasked, exported what, changed what, logged in — never the personal values themselves."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(20))                     # schema.A_*
    target_type: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)


class ChangeLog(Base):
    """Every change to a person, household or flat: who, when, how, old value, new value."""
    __tablename__ = "change_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    by: Mapped[str | None] = mapped_column(String(64))
    how: Mapped[str] = mapped_column(String(20))                        # schema.HOW_*
    entity: Mapped[str] = mapped_column(String(20))                     # schema.ENTITY_*
    entity_id: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(32))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id"))


Index("ix_change_log_entity", ChangeLog.entity, ChangeLog.entity_id)


class CompareVersion(Base):
    """The data version of a community: triggers (migration 0004) bump it whenever a row the street-office
    comparison counts changes. Never written by the application."""
    __tablename__ = "compare_version"
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    xact: Mapped[int | None] = mapped_column(BigInteger)      # PostgreSQL: the transaction that bumped it last


class CompareSummary(Base):
    """A community's comparison counts kept ahead (geodata.summaries), valid while `version` is the community's
    current data version and `format` the code's summary format. Derived data: deleting rows only costs time."""
    __tablename__ = "compare_summary"
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    data: Mapped[bytes] = mapped_column(LargeBinary)
