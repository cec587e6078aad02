"""syncd-side set-up on the fake: a store built as `from_config` builds it, sample templates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from notion_client import Client

from syncd.notes.notion import NotionNotes
from syncd.notes.notion_transport import NotionCaller, client_options, token_lock

from .api import FakeNotion
from .server import TOKEN


def todo(text: str, checked: bool = False) -> dict[str, Any]:
    return {"type": "to_do", "to_do": {"rich_text": [{"text": {"content": text}}], "checked": checked}}


def text_block(kind: str, text: str) -> dict[str, Any]:
    return {"type": kind, kind: {"rich_text": [{"text": {"content": text}}]}}


# The coach's "Coaching / Mentorship Intro" database template, as they might have made it.
TEMPLATE = [
    text_block("heading_2", "Intro session focus areas"),
    text_block("numbered_list_item", "Building rapport"),
    text_block("heading_2", "Notes"),
    text_block("paragraph", "Key background and challenges."),
    text_block("heading_2", "Action items"),
    todo("Send the follow-up email with your pricing link"),
    todo("Agree on a start date"),
]


def make_store(
    fake: FakeNotion,
    database: str,
    template: str = "none",
    *,
    sleep: Callable[[float], None] | None = None,
    token: str = TOKEN,
    template_wait: float = 3.0,
    attempts: int = 4,
    timeout: float = 5.0,
) -> NotionNotes:
    """A NotionNotes on the fake; `sleep` records the waits instead of sleeping when given."""
    client = Client(**client_options(token, fake.url, timeout))
    pause = sleep if sleep is not None else (lambda seconds: None)
    caller = NotionCaller(token_lock(token), sleep=pause, attempts=attempts)
    return NotionNotes(client, caller, database, template, template_wait=template_wait, poll=0.05, settle=0.3)
