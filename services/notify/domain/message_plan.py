"""Who is told what about one status event: the resident (or their proxy), volunteers, the responsible person.

Pure: notify gathers the facts (contacts, names) by `_id` and this decides the recipients, their texts in
each channel and whether a message asks for a digit reply. Channels and quiet hours are decided after,
per recipient (`delivery_channels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.notify.domain.delivery_channels import natural_channel
from services.notify.domain.messages import (
    A_RESIDENT,
    PROMPTS,
    PROXY_PREFIX,
    RESIDENT_SMS,
    RESIDENT_VOICE,
    RESPONSIBLE_SMS,
    VOLUNTEER_SMS,
    Audience,
    Names,
    PromptKind,
    fill,
    language_of,
    person_phrase,
    volunteer_phrase,
)
from services.notify.domain.preferences import Channel

TOLD: dict[Audience, frozenset[str]] = {
    Audience.RESIDENT: frozenset(RESIDENT_SMS),
    Audience.VOLUNTEER: frozenset(VOLUNTEER_SMS),
    Audience.RESPONSIBLE: frozenset(RESPONSIBLE_SMS),
}


def audiences_told(event_type: str) -> set[Audience]:
    """Which audiences have a message for this event type (so that nothing is looked up for the others)."""
    return {audience for audience, types in TOLD.items() if event_type in types}


@dataclass(frozen=True)
class ResidentFacts:
    name: str = ""
    phone: str | None = None
    language: str = "zh"
    cannot_read: bool = False
    proxy_name: str | None = None
    proxy_phone: str | None = None


@dataclass(frozen=True)
class VolunteerFacts:
    volunteer_id: str
    phone: str | None = None
    language: str = "zh"
    given_name: str | None = None


@dataclass(frozen=True)
class ResponsibleFacts:
    role: str
    name: str | None = None
    phone: str | None = None
    language: str = "zh"


@dataclass(frozen=True)
class EventFacts:
    event_type: str
    request_id: str
    names: Names
    resident: ResidentFacts | None = None
    # The event's own volunteer (the assignee of an assignment, the one offered): named to the resident.
    volunteer_id: str | None = None
    volunteers: dict[str, VolunteerFacts] = field(default_factory=dict)
    responsible: ResponsibleFacts | None = None


@dataclass(frozen=True)
class Planned:
    recipient: str  # request:<id>, volunteer:<id>, responsible:<role>: the preferences key and the send key
    audience: Audience
    phone: str
    language: str
    natural: Channel
    texts: dict[Channel, str]
    prompt: PromptKind | None = None
    volunteer_id: str | None = None


def plan(facts: EventFacts) -> list[Planned]:
    planned = [_for_resident(facts)]
    planned += [_for_volunteer(facts, v) for v in facts.volunteers.values()]
    planned.append(_for_responsible(facts))
    return [p for p in planned if p is not None]


def _for_resident(facts: EventFacts) -> Planned | None:
    resident = facts.resident
    sms = RESIDENT_SMS.get(facts.event_type)
    if resident is None or sms is None:
        return None
    lang = language_of(resident.language)
    named = facts.volunteers.get(facts.volunteer_id or "")
    volunteer = volunteer_phrase(named.given_name if named else None, lang)
    text = fill(sms[lang], facts.names, lang, volunteer=volunteer)
    prompt = PROMPTS.get((Audience.RESIDENT, facts.event_type))
    recipient = f"request:{facts.request_id}"
    if resident.phone:
        voice = fill(RESIDENT_VOICE[facts.event_type][lang], facts.names, lang, volunteer=volunteer)
        natural = natural_channel(cannot_read=resident.cannot_read)
        texts = {Channel.SMS: text, Channel.VOICE: voice}
        return Planned(recipient, Audience.RESIDENT, resident.phone, lang, natural, texts, prompt)
    if resident.proxy_phone:
        # The proxy reads for the resident and passes it on; a rating they reply with counts as the resident's.
        prefix = PROXY_PREFIX[lang].format(resident=resident.name or A_RESIDENT[lang])
        texts = {Channel.SMS: prefix + text, Channel.VOICE: prefix + text}
        return Planned(recipient, Audience.RESIDENT, resident.proxy_phone, lang, Channel.SMS, texts, prompt)
    return None


def _for_volunteer(facts: EventFacts, volunteer: VolunteerFacts) -> Planned | None:
    sms = VOLUNTEER_SMS.get(facts.event_type)
    if sms is None or not volunteer.phone:
        return None
    lang = language_of(volunteer.language)
    text = fill(sms[lang], facts.names, lang)
    return Planned(
        f"volunteer:{volunteer.volunteer_id}",
        Audience.VOLUNTEER,
        volunteer.phone,
        lang,
        Channel.SMS,
        {Channel.SMS: text, Channel.VOICE: text},
        PROMPTS.get((Audience.VOLUNTEER, facts.event_type)),
        volunteer.volunteer_id,
    )


def _for_responsible(facts: EventFacts) -> Planned | None:
    person = facts.responsible
    sms = RESPONSIBLE_SMS.get(facts.event_type)
    if person is None or sms is None or not person.phone:
        return None
    lang = language_of(person.language)
    text = fill(sms[lang], facts.names, lang, person=person_phrase(person.role, person.name, lang))
    return Planned(
        f"responsible:{person.role}",
        Audience.RESPONSIBLE,
        person.phone,
        lang,
        Channel.SMS,
        {Channel.SMS: text, Channel.VOICE: text},
    )
