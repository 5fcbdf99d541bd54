"""What each person is told about a status event, in their language, by SMS or read aloud by a call.

Short, plain sentences with the menu item's name (never its code), the volunteer's given name, and no
ids, phone numbers or addresses. Voice texts are for residents who cannot read: they greet, say who is
calling, and never ask for a typed reply. Pure: the texts are chosen from the facts the caller gathered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shared.contracts import status as s

LANGUAGES: Final = ("zh", "en")


class Audience(StrEnum):
    RESIDENT = "resident"
    VOLUNTEER = "volunteer"
    RESPONSIBLE = "responsible"  # team captain, community director, street office, district


class PromptKind(StrEnum):
    """A message that asks for a digit reply; intake's inbound webhook matches the reply to it."""

    OFFER = "offer"  # 1 accept, 2 decline
    RATING = "rating"  # 1–5 stars, 0 not done
    CHECK_IN = "check_in"  # 1 "I'm fine" (a scheduled check-in, docs/care.md)


Texts = dict[str, str]  # language -> template

RESIDENT_SMS: Final[dict[str, Texts]] = {
    s.CARE_CHECK_IN_DUE: {
        "zh": "您好！社区问候您：今天身体好吗？一切安好请回复1。",
        "en": "Hello from your community! How are you today? Reply 1 if you are well.",
    },
    s.REQUEST_ASSIGNED: {
        "zh": "您好！{volunteer}已接下您的求助（{item}），会尽快和您联系。",
        "en": "Hello! {volunteer} took your request ({item}) and will contact you soon.",
    },
    s.REQUEST_STARTED: {
        "zh": "{volunteer}已开始为您办理：{item}。",
        "en": "{volunteer} has started on your request: {item}.",
    },
    s.REQUEST_RESOLVED: {
        "zh": "您的求助（{item}）已办好。请回复1到5打分，5分最满意；没办好请回复0。",
        "en": "Your request ({item}) is done. Reply 1 to 5 to rate it, 5 is best; reply 0 if it was not done.",
    },
    s.REQUEST_UNASSIGNED: {
        "zh": "志愿者来不了了，我们正在为您另找人（{item}）。",
        "en": "The volunteer cannot come. We are finding someone else ({item}).",
    },
    s.REQUEST_REOPENED: {
        "zh": "我们会重新为您办理：{item}。",
        "en": "We will handle your request again: {item}.",
    },
    s.REQUEST_ESCALATED: {
        "zh": "您的求助（{item}）已交给{level}处理。",
        "en": "Your request ({item}) has been passed to the {level}.",
    },
    s.REQUEST_SLA_BREACHED: {
        "zh": "您的求助（{item}）晚了，负责人会尽快处理。",
        "en": "Your request ({item}) is late. A manager will act soon.",
    },
    s.REQUEST_UNMATCHED: {
        "zh": "暂时没有志愿者能办（{item}），社区会打电话给您。",
        "en": "Nobody could take your request ({item}) yet. The community will call you.",
    },
    s.REQUEST_CANCELLED: {"zh": "您的求助（{item}）已取消。", "en": "Your request ({item}) was cancelled."},
    s.REQUEST_REJECTED: {
        "zh": "这项求助（{item}）无法受理，社区会联系您。",
        "en": "We cannot take this request ({item}). The community will call you.",
    },
    s.REQUEST_EXPIRED: {
        "zh": "您的求助（{item}）已过期。需要帮助请再联系我们。",
        "en": "Your request ({item}) expired. Contact us again if you need help.",
    },
}

# Read aloud by a call, for residents who cannot read: a greeting, one fact, what to do; no typed replies.
RESIDENT_VOICE: Final[dict[str, Texts]] = {
    s.CARE_CHECK_IN_DUE: {
        "zh": "您好，这里是社区服务，今天来问候您。志愿者会给您打电话或上门看看您。",
        "en": "Hello, this is your community service, checking on you today. A volunteer will call or visit you.",
    },
    s.REQUEST_ASSIGNED: {
        "zh": "您好，这里是社区服务。{volunteer}会来帮您办：{item}。请您保持电话畅通。",
        "en": "Hello, this is your community service. {volunteer} will help you with: {item}. Please keep your "
        "phone on.",
    },
    s.REQUEST_STARTED: {
        "zh": "您好，这里是社区服务。{volunteer}已经开始帮您办：{item}。",
        "en": "Hello, this is your community service. {volunteer} has started on: {item}.",
    },
    s.REQUEST_RESOLVED: {
        "zh": "您好，这里是社区服务。您的事情已经办好了：{item}。如果没有办好，请打电话告诉社区。",
        "en": "Hello, this is your community service. Your request is done: {item}. If it was not done, please "
        "call the community.",
    },
    s.REQUEST_UNASSIGNED: {
        "zh": "您好，这里是社区服务。原来的志愿者来不了了。我们正在另找人帮您办：{item}。",
        "en": "Hello, this is your community service. The volunteer cannot come. We are finding someone else "
        "for: {item}.",
    },
    s.REQUEST_REOPENED: {
        "zh": "您好，这里是社区服务。我们会重新帮您办：{item}。",
        "en": "Hello, this is your community service. We will do it again: {item}.",
    },
    s.REQUEST_ESCALATED: {
        "zh": "您好，这里是社区服务。您的事情已经交给{level}办了：{item}。",
        "en": "Hello, this is your community service. Your request is now with the {level}: {item}.",
    },
    s.REQUEST_SLA_BREACHED: {
        "zh": "您好，这里是社区服务。您的事情晚了，负责人会尽快办：{item}。",
        "en": "Hello, this is your community service. Your request is late. A manager will act soon: {item}.",
    },
    s.REQUEST_UNMATCHED: {
        "zh": "您好，这里是社区服务。暂时没有志愿者能办：{item}。社区会再打电话给您。",
        "en": "Hello, this is your community service. Nobody could take it yet: {item}. The community will call you.",
    },
    s.REQUEST_CANCELLED: {
        "zh": "您好，这里是社区服务。您的求助已经取消了：{item}。",
        "en": "Hello, this is your community service. Your request was cancelled: {item}.",
    },
    s.REQUEST_REJECTED: {
        "zh": "您好，这里是社区服务。这件事我们办不了：{item}。社区会打电话给您。",
        "en": "Hello, this is your community service. We cannot take this request: {item}. The community will "
        "call you.",
    },
    s.REQUEST_EXPIRED: {
        "zh": "您好，这里是社区服务。您的求助已经过期了：{item}。需要帮助请再打电话。",
        "en": "Hello, this is your community service. Your request expired: {item}. Call us again if you need help.",
    },
}

# The proxy (building leader, family, linked heart) is asked to pass the resident's message on.
PROXY_PREFIX: Final[Texts] = {"zh": "请转告{resident}：", "en": "Please tell {resident}: "}

VOLUNTEER_SMS: Final[dict[str, Texts]] = {
    s.REQUEST_OFFERED: {
        "zh": "新求助：{item}（{place}）。回复1接单，回复2不接。",
        "en": "New request: {item} ({place}). Reply 1 to accept, 2 to decline.",
    },
    s.REQUEST_ASSIGNED: {
        "zh": "这单交给您了：{item}（{place}）。详情请看志愿者页面。",
        "en": "This request is yours: {item} ({place}). See the volunteer page for details.",
    },
    s.REQUEST_OFFER_WITHDRAWN: {
        "zh": "求助已撤回，不用处理了：{item}。",
        "en": "The request was withdrawn, no action needed: {item}.",
    },
    s.REQUEST_OFFER_EXPIRED: {
        "zh": "求助超时未回复，已转给别人：{item}。",
        "en": "No reply in time, the request went to someone else: {item}.",
    },
    s.REQUEST_CANCELLED: {
        "zh": "居民已取消求助，不用去了：{item}。",
        "en": "The resident cancelled, no need to go: {item}.",
    },
    s.REQUEST_SLA_WARNING: {"zh": "求助快超时了：{item}（{place}）。", "en": "Nearly late: {item} ({place})."},
    s.REQUEST_REOPENED: {
        "zh": "居民说还没办好，请再去看看：{item}（{place}）。",
        "en": "The resident says it is not done. Please go again: {item} ({place}).",
    },
}

RESPONSIBLE_SMS: Final[dict[str, Texts]] = {
    s.REQUEST_ESCALATED: {
        "zh": "{person}您好：求助“{item}”（{place}）已交到{level}，请安排处理。",
        "en": '{person}: the request "{item}" ({place}) is now with the {level}. Please arrange help.',
    },
    s.REQUEST_SLA_WARNING: {
        "zh": "{person}您好：求助“{item}”（{place}）快超时了，请督促办理。",
        "en": '{person}: the request "{item}" ({place}) is nearly late. Please follow it up.',
    },
    s.REQUEST_SLA_BREACHED: {
        "zh": "{person}您好：求助“{item}”（{place}）已超时，请立即处理。",
        "en": '{person}: the request "{item}" ({place}) is late. Please act now.',
    },
    s.REQUEST_UNMATCHED: {
        "zh": "{person}您好：求助“{item}”（{place}）没有志愿者能接，请安排人手。",
        "en": '{person}: nobody could take the request "{item}" ({place}). Please find someone.',
    },
}

PROMPTS: Final[dict[tuple[Audience, str], PromptKind]] = {
    (Audience.VOLUNTEER, s.REQUEST_OFFERED): PromptKind.OFFER,
    (Audience.RESIDENT, s.REQUEST_RESOLVED): PromptKind.RATING,
    (Audience.RESIDENT, s.CARE_CHECK_IN_DUE): PromptKind.CHECK_IN,
}

LEVEL_NAMES: Final[dict[str, Texts]] = {
    "grid": {"zh": "网格", "en": "grid team"},
    "community": {"zh": "社区", "en": "community office"},
    "street": {"zh": "街道办事处", "en": "street office"},
    "district": {"zh": "区里", "en": "district office"},
}
ROLE_NAMES: Final[dict[str, Texts]] = {
    "team_captain": {"zh": "队长", "en": "Team captain"},
    "community_director": {"zh": "社区主任", "en": "Community director"},
    "street_office": {"zh": "街道负责人", "en": "Street office"},
    "district": {"zh": "区负责人", "en": "District office"},
}
# What stands in when a fact is unknown: a message still reads as a sentence, never as a code.
UNKNOWN_ITEM: Final[Texts] = {"zh": "您的求助", "en": "your request"}
UNKNOWN_PLACE: Final[Texts] = {"zh": "本网格", "en": "your grid"}
A_VOLUNTEER: Final[Texts] = {"zh": "志愿者", "en": "A volunteer"}
NAMED_VOLUNTEER: Final[Texts] = {"zh": "志愿者{name}", "en": "Volunteer {name}"}
A_RESIDENT: Final[Texts] = {"zh": "居民", "en": "the resident"}


def language_of(preferred: str | None) -> str:
    return preferred if preferred in LANGUAGES else "zh"


@dataclass(frozen=True)
class Names:
    """Display names in both languages of the things a message mentions; empty when unknown."""

    item: Texts
    place: Texts
    level: str = "community"

    def item_in(self, language: str) -> str:
        return self.item.get(language) or self.item.get("zh") or UNKNOWN_ITEM[language]

    def place_in(self, language: str) -> str:
        return self.place.get(language) or self.place.get("zh") or UNKNOWN_PLACE[language]

    def level_in(self, language: str) -> str:
        return LEVEL_NAMES.get(self.level, LEVEL_NAMES["community"])[language]


def volunteer_phrase(given_name: str | None, language: str) -> str:
    if not given_name:
        return A_VOLUNTEER[language]
    return NAMED_VOLUNTEER[language].format(name=given_name)


def person_phrase(role: str, name: str | None, language: str) -> str:
    return name or ROLE_NAMES.get(role, ROLE_NAMES["district"])[language]


def fill(template: str, names: Names, language: str, **extra: str) -> str:
    return template.format(
        item=names.item_in(language), place=names.place_in(language), level=names.level_in(language), **extra
    )
