"""Reference data use cases shared by the admin endpoints and `gridctl`: check, derive, write, announce.

The only writer of reference data. Every write of a volunteer is followed by its announcement on the
district's key (see `roster`), so the dispatch replica owning the district never reads `volunteers` to
stay current. Ids are global per collection: an id held by another district is refused, never moved.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.intake import reference_models as m
from services.intake.repository import IntakeRepository
from services.intake.roster import Roster
from shared.mongo import Document

log = logging.getLogger(__name__)


class ReferenceProblem(ValueError):
    """A row or body that names something that does not exist, or an id owned by another district."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class IdOfAnotherDistrict(ReferenceProblem):
    """The id is held by another district's document: refused, since moving it would move that district's data.

    `owner` is for operators' tools only; API callers are not told which district holds it.
    """

    def __init__(self, field: str, document_id: str, owner: str | None) -> None:
        super().__init__(field, f"{document_id!r} is already used by another district; choose another id")
        self.document_id, self.owner = document_id, owner


@dataclass(frozen=True)
class Kind:
    name: str  # URL segment and import name
    collection: str
    fields: type[BaseModel]
    personal: bool  # holds phone numbers or health flags: staff only


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("street-offices", "street_offices", m.StreetOfficeFields, personal=True),
        Kind("communities", "communities", m.CommunityFields, personal=True),
        Kind("grids", "grids", m.GridFields, personal=False),
        Kind("teams", "teams", m.TeamFields, personal=False),
        Kind("volunteers", "volunteers", m.VolunteerFields, personal=True),
        Kind("residents", "residents", m.ResidentFields, personal=True),
        Kind("care-plans", "care_plans", m.CarePlanFields, personal=True),
    )
}
MENU = "menu"
# Import order: parents before children.
IMPORT_ORDER = ("street-offices", "communities", "grids", "volunteers", "teams", "residents", MENU, "care-plans")


class ReferenceView(BaseModel):
    """Any reference document as stored: `id`, `district_id` and the kind's fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    id: str
    district_id: str


class MenuItemView(m.MenuItemFields):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(description="<community_id>:<code>")
    community_id: str
    code: str


# Load fields that dispatch wrote into `volunteers` before load moved to its own `volunteer_load`.
LEGACY_LOAD_FIELDS = ("open_assignments", "last_assigned_at", "assignment_ids")


def view(document: Document) -> ReferenceView:
    fields = {k: v for k, v in document.items() if k != "_id" and k not in LEGACY_LOAD_FIELDS}
    return ReferenceView(id=document["_id"], **fields)


def menu_view(document: Document) -> MenuItemView:
    fields = {k: v for k, v in document.items() if k != "_id"}
    fields.setdefault("name_zh", fields.get("code", "?"))
    fields.setdefault("name_en", fields.get("code", "?"))
    fields.setdefault("category", "other")
    return MenuItemView.model_validate({"id": document["_id"], **fields})


async def _parent(repo: IntakeRepository, collection: str, district_id: str, field: str, value: str) -> Document:
    parent = await repo.parent(collection, district_id, value)
    if parent is None:
        raise ReferenceProblem(field, f"{value!r} does not exist in district {district_id!r}")
    return parent


async def _derived(repo: IntakeRepository, kind: str, district_id: str, fields: Document) -> Document:
    """Denormalised ids that dispatch reads without a join, from the parent documents."""
    if kind == "care-plans":
        return await _care_plan_derived(repo, district_id, fields)
    if kind == "communities":
        await _parent(repo, "street_offices", district_id, "street_office_id", fields["street_office_id"])
        return {}
    if kind == "grids":
        community = await _parent(repo, "communities", district_id, "community_id", fields["community_id"])
        return {"street_office_id": community["street_office_id"]}
    if kind in ("volunteers", "residents", "teams"):
        grid = await _parent(repo, "grids", district_id, "grid_id", fields["grid_id"])
        derived = {"community_id": grid["community_id"], "street_office_id": grid.get("street_office_id")}
        named = {
            "teams": ["captain_volunteer_id", "vice_captain_volunteer_id"],
            "residents": ["linked_volunteer_id"],
        }.get(kind, [])
        for field in named:
            if fields.get(field):
                await _parent(repo, "volunteers", district_id, field, fields[field])
        if kind == "teams":
            members = list(dict.fromkeys(fields.get("member_ids", [])))
            if members and await repo.count_existing("volunteers", district_id, members) != len(members):
                raise ReferenceProblem("member_ids", "some members are not volunteers of this district")
            return {}
        if kind == "volunteers":
            return derived
        # The proxy's phone again at the top level: FerretDB v1 serves an index on a top-level field only
        # (an equality on `proxy.phone` read every household: 1.4 s at 2,000 against 10 ms).
        return {"community_id": grid["community_id"], "proxy_phone": (fields.get("proxy") or {}).get("phone")}
    return {}


async def _care_plan_derived(repo: IntakeRepository, district_id: str, fields: Document) -> Document:
    """A plan is for a household of the district: its grid (where the work is matched) comes from it."""
    resident = await _parent(repo, "residents", district_id, "resident_id", fields["resident_id"])
    if fields.get("volunteer_id"):
        await _parent(repo, "volunteers", district_id, "volunteer_id", fields["volunteer_id"])
    grid = await _parent(repo, "grids", district_id, "resident_id", str(resident.get("grid_id") or ""))
    if fields.get("menu_item_code"):
        item = f"{grid['community_id']}:{fields['menu_item_code']}"
        await _parent(repo, "menu_items", district_id, "menu_item_code", item)
    return {"grid_id": grid["_id"], "community_id": grid["community_id"]}


@dataclass(frozen=True)
class Row:
    """One document to write: a kind's `document_id`, or a menu item's `community_id` and `code`."""

    fields: BaseModel
    document_id: str = ""
    community_id: str = ""
    code: str = ""


@dataclass(frozen=True)
class Written:
    document: Document
    created: bool
    changed: bool  # False when every field already had this value: nothing was written


@dataclass(frozen=True)
class _Prepared:
    document: Document
    stored: Document | None

    @property
    def unchanged(self) -> bool:
        return self.stored is not None and all(self.stored.get(k) == v for k, v in self.document.items())


def collection_of(kind: str) -> str:
    return "menu_items" if kind == MENU else KINDS[kind].collection


async def _own(
    repo: IntakeRepository, collection: str, district_id: str, document_id: str, field: str
) -> Document | None:
    """The district's stored document, if any; refused when another district holds the id.

    Checked before the parents, so that a clash is reported as such, not as a parent missing here."""
    stored = await repo.stored(collection, document_id)
    if stored is not None and stored.get("district_id") != district_id:
        raise IdOfAnotherDistrict(field, document_id, stored.get("district_id"))
    return stored


async def _prepare(repo: IntakeRepository, kind: str, district_id: str, row: Row) -> _Prepared:
    data: Document = row.fields.model_dump(mode="json")
    if kind == MENU:
        await _parent(repo, "communities", district_id, "community_id", row.community_id)
        document_id = f"{row.community_id}:{row.code}"
        stored = await _own(repo, "menu_items", district_id, document_id, "community_id")
        document = {"_id": document_id, "district_id": district_id, "community_id": row.community_id, "code": row.code}
        return _Prepared({**document, **data}, stored)
    stored = await _own(repo, KINDS[kind].collection, district_id, row.document_id, "id")
    document = {"_id": row.document_id, "district_id": district_id, **data}
    document.update(await _derived(repo, kind, district_id, data))
    return _Prepared(document, stored)


async def write(
    repo: IntakeRepository, *, kind: str, district_id: str, rows: list[Row], roster: Roster | None
) -> list[Written | ReferenceProblem]:
    """Check each row's id and references, write the good ones, announce volunteers; an outcome per row.

    One read by `_id` per row (concurrently) and one bulk write for all: the database's round trips, not
    our code, bound an import. Unchanged documents are not written, but volunteers are announced all the
    same: a write is idempotent, so repeating it after a failed announcement is how that is completed.
    `roster` None writes without announcing: only for seeding a database before any dispatch runs (dispatch
    reads the roster when it takes a district over).
    """
    collection = collection_of(kind)
    prepared: list[_Prepared | ReferenceProblem] = []
    for outcome in await asyncio.gather(*(_prepare(repo, kind, district_id, r) for r in rows), return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, ReferenceProblem):
            raise outcome
        prepared.append(outcome)
    pending = [(i, p) for i, p in enumerate(prepared) if isinstance(p, _Prepared) and not p.unchanged]
    if kind == "residents":
        # Readers (messages, the volunteer page, the desk) show how fresh a household's contact details are.
        now = datetime.now(UTC)
        for _, p in pending:
            p.document["updated_at"] = now
    writes = [(p.document, p.stored is not None) for _, p in pending]
    outcomes = await repo.write_references(collection, writes) if writes else []
    created = {index: outcome for (index, _), outcome in zip(pending, outcomes, strict=True)}
    results: list[Written | ReferenceProblem] = []
    for index, outcome in enumerate(prepared):
        if isinstance(outcome, ReferenceProblem):
            results.append(outcome)
        elif index in created and created[index] is None:
            # Another district created the id between our read and our write.
            holder = await repo.stored(collection, outcome.document["_id"])
            owner = None if holder is None else holder.get("district_id")
            results.append(
                IdOfAnotherDistrict("community_id" if kind == MENU else "id", outcome.document["_id"], owner)
            )
        else:
            results.append(Written(outcome.document, created=created.get(index) is True, changed=index in created))
            if kind == "volunteers" and roster is not None:
                await roster.changed(outcome.document)
            elif kind == "care-plans" and roster is not None:
                await roster.plan_changed(outcome.document)
    moved = [p.document for i, p in pending if created.get(i) is False and _moved(kind, p)]
    if moved:
        await _carry_down(repo, kind, district_id, moved, roster)
    return results


# The parent's ids each child carries (dispatch matches and routes by them without a join).
CARRIED: dict[tuple[str, str], tuple[str, ...]] = {
    ("communities", "grids"): ("street_office_id",),
    ("grids", "volunteers"): ("community_id", "street_office_id"),
    ("grids", "residents"): ("community_id",),
    # A household that moves takes its care plans along: dispatch matches their work in the new grid.
    ("residents", "care_plans"): ("grid_id", "community_id"),
}
PARENT_FIELD = {"grids": "community_id", "volunteers": "grid_id", "residents": "grid_id", "care_plans": "resident_id"}


def _moved(kind: str, prepared: _Prepared) -> bool:
    stored = prepared.stored or {}
    fields = {field for (parent, _), carried in CARRIED.items() if parent == kind for field in carried}
    return any(stored.get(field) != prepared.document.get(field) for field in fields)


async def _carry_down(
    repo: IntakeRepository, kind: str, district_id: str, parents: list[Document], roster: Roster | None
) -> None:
    """A grid moved to another community (or a community to another street office, or a household to another
    grid): rewrite the ids its children carry, down to the volunteers and care plans, and announce those
    with their new area."""
    for (parent_kind, child_kind), fields in CARRIED.items():
        if parent_kind != kind:
            continue
        for parent in parents:
            carried = {field: parent.get(field) for field in fields}
            children = await repo.references(
                child_kind, district_id, after=None, limit=10_000_000, **{PARENT_FIELD[child_kind]: parent["_id"]}
            )
            changed = [{**c, **carried} for c in children if any(c.get(k) != v for k, v in carried.items())]
            if not changed:
                continue
            await repo.write_references(child_kind, [(child, True) for child in changed])
            if child_kind == "volunteers" and roster is not None:
                for volunteer in changed:
                    try:
                        await roster.changed(volunteer)
                    except ValidationError:
                        # Stored before the admin validated profiles: not the grid's writer's fault, and
                        # `gridctl roster announce` lists it for repair.
                        log.warning("volunteer %s is not a valid roster profile; not announced", volunteer["_id"])
            if child_kind == "care_plans" and roster is not None:
                for care_plan in changed:
                    await roster.plan_changed(care_plan)
            await _carry_down(repo, child_kind, district_id, changed, roster)


async def write_one(repo: IntakeRepository, *, kind: str, district_id: str, row: Row, roster: Roster | None) -> Written:
    """`write` of a single row (the admin API's `PUT`); ReferenceProblem when it is refused."""
    (outcome,) = await write(repo, kind=kind, district_id=district_id, rows=[row], roster=roster)
    if isinstance(outcome, ReferenceProblem):
        raise outcome
    return outcome


async def delete(
    repo: IntakeRepository, *, kind: str, district_id: str, document_id: str, roster: Roster | None
) -> bool:
    """Delete the district's document; a volunteer's removal is announced. False when the district has none."""
    collection = KINDS[kind].collection
    deleted = await repo.delete_reference(collection, district_id, document_id)
    # A retry after a failed announcement finds nothing to delete and must still announce; an id that
    # another district holds is not this district's to announce.
    gone = deleted or await repo.stored(collection, document_id) is None
    if kind == "volunteers" and roster is not None and gone:
        await roster.removed(district_id, document_id)
    if kind == "care-plans" and roster is not None and gone:
        await roster.plan_removed(district_id, document_id)
    return deleted


async def announce_all(repo: IntakeRepository, *, district_id: str, roster: Roster) -> list[str]:
    """Announce every volunteer of the district again (after a crash between write and announcement, or to
    seed a new dispatch); returns one message per stored volunteer that is not a valid profile."""
    problems: list[str] = []
    for document in await repo.references("volunteers", district_id, after=None, limit=10_000_000):
        try:
            await roster.changed(document)
        except ValidationError as exc:
            error = exc.errors()[0]
            problems.append(f"{document['_id']}: {'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
    await roster.flush()
    return problems


def split_row(row: dict[str, Any], id_field: str = "id") -> tuple[str, dict[str, Any]]:
    """An import row or stored document: (id, the rest)."""
    rest = {k: v for k, v in row.items() if k != id_field}
    identifier = row.get(id_field)
    if not m.valid_id(identifier):
        raise ReferenceProblem(id_field, "missing or not a valid id (letters, digits, . _ : -; at most 64)")
    return str(identifier), rest
