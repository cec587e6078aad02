"""The fake's mailbox: `POST /me/messages` with base64 MIME (a draft) and a `$filter` look-up by
`internetMessageId`. Anything else in the body, or a MIME text that does not decode, is refused
as Graph refuses it."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import re
import secrets
from typing import TYPE_CHECKING, Any

from .server import FakeRequest, FakeResponse, GraphError

if TYPE_CHECKING:
    from .server import FakeGraph

SCOPE = "Mail.ReadWrite"
FILTER = re.compile(r"^internetMessageId eq '(?P<id>(?:[^']|'')*)'$")


class FakeMail:
    def __init__(self, fake: FakeGraph, *, routes: bool = True) -> None:
        self.fake = fake
        self.reset()
        if not routes:  # another account's mailbox: reached through the routes of the first
            return
        fake.route("POST", r"/me/messages", self._create, SCOPE)
        fake.route("GET", r"/me/messages", self._list, SCOPE)

    def reset(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}  # id -> {"raw": bytes, "internetMessageId": ...}

    def raw_messages(self) -> list[bytes]:
        with self.fake.lock:
            return [m["raw"] for m in self.messages.values()]

    def _create(self, request: FakeRequest) -> FakeResponse:
        if not (request.headers.get("Content-Type") or "").startswith("text/plain"):
            raise GraphError(400, "RequestBodyRead", "the fake takes MIME content (text/plain, base64) only.")
        try:
            raw = base64.b64decode(request.body, validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(
                400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
            ) from None
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if not message["To"] or not message["Message-ID"]:
            raise GraphError(400, "ErrorMimeContentInvalid", "The MIME content is not valid.")
        message_id = "AAMkMsg" + secrets.token_hex(6)
        self.messages[message_id] = {"raw": raw, "internetMessageId": str(message["Message-ID"]).strip()}
        body = {
            "id": message_id,
            "isDraft": True,
            "internetMessageId": self.messages[message_id]["internetMessageId"],
            "subject": str(message["Subject"] or ""),
        }
        return FakeResponse(201, body)

    def _list(self, request: FakeRequest) -> FakeResponse:
        text = request.arg("$filter") or ""
        match = FILTER.match(text)
        if not match:
            raise GraphError(400, "BadRequest", f"the fake does not know this $filter: {text!r}")
        wanted = match["id"].replace("''", "'")
        found = [
            {"id": key, "isDraft": True, "internetMessageId": m["internetMessageId"]}
            for key, m in self.messages.items()
            if m["internetMessageId"] == wanted
        ]
        return FakeResponse(200, {"value": found})
