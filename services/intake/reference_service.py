"""Reference data use cases shared by the admin endpoints and `gridctl import`: check, derive, upsert."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.intake import reference_models as m
from services.intake.repository import IntakeRepository
from shared.mongo import Document


class ReferenceProblem(ValueError):
    """A row or body that names something that does not exist, or an id owned by another district."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


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
    )
}
# Import order: parents before children.
IMPORT_ORDER = ("street-offices", "communities", "grids", "volunteers", "teams", "residents", "menu")


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


def view(document: Document) -> ReferenceView:
    fields = {k: v for k, v in document.items() if k not in ("_id", "open_assignments", "last_assigned_at")}
    return ReferenceView(id=document["_id"], **fields)


def menu_view(document: Document) -> MenuItemView:
    fields = {k: v for k, v in document.items() if k != "_id"}
    fields.setdefault("name_zh", fields.get("code", "?"))
    fields.setdefault("name_en", fields.get("code", "?"))
    fields.setdefault("category", "other")
    return MenuItemView.model_validate({"id": document["_id"], **fields})


async def _parent(repo: IntakeRepository, collection: str, district_id: str, field: str, value: str) -> Document:
    parent = await repo.reference(collection, district_id, value)
    if parent is None:
        raise ReferenceProblem(field, f"{value!r} does not exist in district {district_id!r}")
    return parent


async def _derived(repo: IntakeRepository, kind: str, district_id: str, fields: Document) -> Document:
    """Denormalised ids that dispatch reads without a join, from the parent documents."""
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
            "residents": ["linked_heart_volunteer_id"],
        }.get(kind, [])
        for field in named:
            if fields.get(field):
                await _parent(repo, "volunteers", district_id, field, fields[field])
        if kind == "teams":
            members = list(dict.fromkeys(fields.get("member_ids", [])))
            if members and await repo.count_existing("volunteers", district_id, members) != len(members):
                raise ReferenceProblem("member_ids", "some members are not volunteers of this district")
            return {}
        return derived if kind == "volunteers" else {"community_id": grid["community_id"]}
    return {}


async def upsert(
    repo: IntakeRepository, *, kind: str, district_id: str, document_id: str, fields: BaseModel
) -> tuple[Document, bool]:
    """Check references, write the document, return it and whether it was created."""
    owner = await repo.owner_district(KINDS[kind].collection, document_id)
    if owner is not None and owner != district_id:
        # Ids are global per collection: never let one district overwrite another's document.
        raise ReferenceProblem("id", f"{document_id!r} is already used; choose another id")
    data: Document = fields.model_dump(mode="json")
    document: Document = {"_id": document_id, "district_id": district_id, **data}
    document.update(await _derived(repo, kind, district_id, data))
    on_insert = {"open_assignments": 0, "last_assigned_at": None} if kind == "volunteers" else None
    created = await repo.upsert_reference(KINDS[kind].collection, document, on_insert)
    return document, created


async def upsert_menu_item(
    repo: IntakeRepository, *, district_id: str, community_id: str, code: str, fields: m.MenuItemFields
) -> tuple[Document, bool]:
    await _parent(repo, "communities", district_id, "community_id", community_id)
    document_id = f"{community_id}:{code}"
    owner = await repo.owner_district("menu_items", document_id)
    if owner is not None and owner != district_id:
        raise ReferenceProblem("community_id", f"{community_id!r} belongs to another district")
    document: Document = {
        "_id": document_id,
        "district_id": district_id,
        "community_id": community_id,
        "code": code,
        **fields.model_dump(mode="json"),
    }
    created = await repo.upsert_reference("menu_items", document)
    return document, created


def split_row(row: dict[str, Any], id_field: str = "id") -> tuple[str, dict[str, Any]]:
    """An import row or stored document: (id, the rest)."""
    rest = {k: v for k, v in row.items() if k != id_field}
    identifier = row.get(id_field)
    if not m.valid_id(identifier):
        raise ReferenceProblem(id_field, "missing or not a valid id (letters, digits, . _ : -; at most 64)")
    return str(identifier), rest
