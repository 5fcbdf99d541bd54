"""Everything a console route needs, built once by the bootstrap and kept on `app.state.console`."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from services.console.intake_gateway import IntakeGateway
from services.console.notify_stream import NotifyStream
from services.console.repository import ConsoleRepository
from services.console.settings import ConsoleSettings
from shared.api_keys import ApiKeyRepository
from shared.mongo import Document


@dataclass(frozen=True)
class ConsoleContext:
    settings: ConsoleSettings
    db: AsyncDatabase[Document]
    repository: ConsoleRepository
    keys: ApiKeyRepository
    intake: IntakeGateway
    notify: NotifyStream
