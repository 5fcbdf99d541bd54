"""Short, plain messages per event type, in Chinese and English, written to be read aloud.

No jargon, no ids, no phone numbers or addresses: a voice gateway reads them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LANGUAGES = ("zh", "en")

RESIDENT_TEMPLATES: dict[str, dict[str, str]] = {
    "request.received": {
        "zh": "您的求助已收到，我们正在为您找志愿者。",
        "en": "We got your request. We are finding a volunteer.",
    },
    "request.matching": {"zh": "正在为您找志愿者，请稍等。", "en": "We are finding a volunteer for you. Please wait."},
    "request.offered": {
        "zh": "已请志愿者来帮您，等待回复。",
        "en": "We asked a volunteer to help you. Waiting for a reply.",
    },
    "request.assigned": {
        "zh": "志愿者已接单，很快和您联系。",
        "en": "A volunteer took your request and will contact you soon.",
    },
    "request.unassigned": {"zh": "暂时没有志愿者，我们会继续找。", "en": "No volunteer is free yet. We keep looking."},
    "request.started": {"zh": "志愿者已经开始为您办理。", "en": "The volunteer has started on your request."},
    "request.resolved": {
        "zh": "您的事情已办好，请为服务打分。",
        "en": "Your request is done. Please rate the service.",
    },
    "request.rated": {"zh": "谢谢您的评价。", "en": "Thank you for your rating."},
    "request.reopened": {
        "zh": "您的求助已重新打开，我们会再处理。",
        "en": "Your request is open again. We will handle it.",
    },
    "request.escalated": {"zh": "您的求助已交给{level}处理。", "en": "Your request has been passed to the {level}."},
    "request.sla_breached": {
        "zh": "您的求助超时了，负责人会尽快处理。",
        "en": "Your request is late. A manager will act soon.",
    },
    "request.unmatched": {
        "zh": "暂时没人能办，社区会联系您。",
        "en": "Nobody could take it yet. The community will call you.",
    },
    "request.cancelled": {"zh": "您的求助已取消。", "en": "Your request was cancelled."},
    "request.rejected": {
        "zh": "这项求助无法受理，社区会联系您。",
        "en": "We cannot take this request. The community will call you.",
    },
    "request.expired": {
        "zh": "您的求助已过期。如需帮助，请再次联系我们。",
        "en": "Your request expired. Contact us again if you need help.",
    },
}

VOLUNTEER_TEMPLATES: dict[str, dict[str, str]] = {
    "request.offered": {"zh": "有新的求助：{item}。请尽快接单。", "en": "New request: {item}. Please accept soon."},
    "request.assigned": {"zh": "求助已交给您：{item}。", "en": "This request is yours now: {item}."},
    "request.offer_withdrawn": {"zh": "求助已撤回，不用处理了。", "en": "The request was withdrawn. No action needed."},
    "request.offer_expired": {"zh": "求助已超时，转给别人了。", "en": "The offer timed out and went to someone else."},
    "request.cancelled": {"zh": "居民已取消求助，不用去了。", "en": "The resident cancelled. No need to go."},
    "request.sla_warning": {"zh": "求助快超时了：{item}。", "en": "This request is nearly late: {item}."},
    "request.reopened": {
        "zh": "居民对结果不满意，请再去看看。",
        "en": "The resident is not satisfied. Please go again.",
    },
}

LEVEL_NAMES = {
    "grid": {"zh": "网格", "en": "grid team"},
    "community": {"zh": "社区", "en": "community office"},
    "street": {"zh": "街道办事处", "en": "street office"},
    "district": {"zh": "区里", "en": "district office"},
}


@dataclass(frozen=True)
class Message:
    language: str
    text: str


def language_of(preferred: str | None) -> str:
    return preferred if preferred in LANGUAGES else "zh"


def render(
    templates: dict[str, dict[str, str]], event_type: str, data: dict[str, Any], *, language: str | None
) -> Message | None:
    """The message for an event, or None when this audience is not told about that event type."""
    by_language = templates.get(event_type)
    if by_language is None:
        return None
    lang = language_of(language)
    level = str(data.get("level") or "community")
    fields = {
        "level": LEVEL_NAMES.get(level, LEVEL_NAMES["community"])[lang],
        "item": str((data.get("detail") or {}).get("menu_item_name_" + lang) or data.get("menu_item_code") or ""),
    }
    return Message(lang, by_language[lang].format(**fields))
