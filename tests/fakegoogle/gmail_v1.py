"""A fake of Gmail API v1 drafts: create, list (with `q=rfc822msgid:`), get.

`drafts.create` takes `{"message": {"raw": base64url}}` and refuses a raw that does not decode
or parse; `drafts.list` lists the newest draft first, pages with `maxResults`/`pageToken`, and
omits `drafts` when there are none, as Gmail does; `drafts.get` answers `format=metadata`
with every header, `raw` with the message, `minimal` with ids only.

Two things GOOGLE.md leaves unconfirmed can be switched, so syncd is tested against both:
`msgid_search` (default True) — whether `q=rfc822msgid:` finds drafts — and
`rewrite_message_ids` (default False) — whether Gmail replaces the Message-ID it is given.

Not modelled: sending, threads, labels other than DRAFT, other search operators (501).
"""

from __future__ import annotations

import base64
import binascii
import copy
import email
import email.policy
import itertools
from email.message import Message
from typing import TYPE_CHECKING, Any

from .server import ApiError, FakeRequest, FakeResponse

if TYPE_CHECKING:
    from .server import FakeGoogle


class FakeGmail:
    """One mailbox's drafts, served as Gmail API v1; the test-side API inspects them."""

    def __init__(self, fake: FakeGoogle, address: str = "coach@example.com") -> None:
        self._fake = fake
        self._ids = itertools.count(1)
        self.address = address
        self.msgid_search = True
        self.rewrite_message_ids = False
        self.drafts: dict[str, dict[str, Any]] = {}  # draft id -> {"id", "message": {..., "raw"}}
        # The drafts of the other accounts (tokens issued with `user=`), by address.
        self.mailboxes: dict[str, dict[str, dict[str, Any]]] = {}
        fake.register_api(
            "gmail",
            "v1",
            {
                "gmail.users.drafts.create": self._create,
                "gmail.users.drafts.list": self._list,
                "gmail.users.drafts.get": self._get,
            },
        )

    # --- test-side API -----------------------------------------------------------------------

    def raw_messages(self, address: str | None = None) -> list[bytes]:
        """The stored messages' bytes, oldest draft first (of `address`'s mailbox when given)."""
        with self._fake.lock:
            return [_decode(d["message"]["raw"]) for d in self._drafts_of(address).values()]

    def put_draft(self, raw: bytes) -> str:
        """Add a draft as the coach's mail client would; returns its id."""
        with self._fake.lock:
            return str(self._store(raw)["id"])

    # --- handlers ----------------------------------------------------------------------------

    def _create(self, request: FakeRequest) -> FakeResponse:
        self._check_user(request)
        body = request.json() or {}
        raw = ((body.get("message") or {}) if isinstance(body, dict) else {}).get("raw")
        if not isinstance(raw, str) or not raw:
            raise ApiError(400, "Invalid draft: message.raw is required.", "invalidArgument")
        _parse(_decode(raw))
        draft = self._store(_decode(raw), self._drafts_of(self._user(request)))
        return FakeResponse(200, _summary(draft))

    def _list(self, request: FakeRequest) -> FakeResponse:
        self._check_user(request)
        drafts = self._drafts_of(self._user(request))
        found = [d for d in reversed(drafts.values()) if self._matches(d, request.arg("q") or "")]
        start = int(request.arg("pageToken") or 0)
        size = int(request.arg("maxResults") or 100)
        body: dict[str, Any] = {"resultSizeEstimate": len(found)}
        page = found[start : start + size]
        if page:
            body["drafts"] = [_summary(d) for d in page]
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return FakeResponse(200, body)

    def _get(self, request: FakeRequest) -> FakeResponse:
        self._check_user(request)
        draft = self._drafts_of(self._user(request)).get(request.params["id"])
        if draft is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        message = draft["message"]
        shown = {k: copy.deepcopy(v) for k, v in message.items() if k != "raw"}
        fmt = request.arg("format") or "full"
        if fmt == "raw":
            shown["raw"] = message["raw"]
        elif fmt in ("metadata", "full"):
            parsed = _parse(_decode(message["raw"]))
            shown["payload"] = {"mimeType": parsed.get_content_type(), "headers": _headers(parsed)}
        return FakeResponse(200, {"id": draft["id"], "message": shown})

    # --- storage -----------------------------------------------------------------------------

    def _user(self, request: FakeRequest) -> str | None:
        return self._fake.oauth.user_of(request.headers.get("Authorization"))

    def _drafts_of(self, address: str | None) -> dict[str, dict[str, Any]]:
        """The drafts of `address`'s mailbox; this fake's own one when None."""
        if address is None or address == self.address:
            return self.drafts
        return self.mailboxes.setdefault(address, {})

    def _store(self, raw: bytes, drafts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        number = next(self._ids)
        if self.rewrite_message_ids:
            raw = _with_message_id(raw, f"<CAFake{number:06d}@mail.gmail.com>")
        draft: dict[str, Any] = {
            "id": f"r-fake{number:08d}",
            "message": {
                "id": f"18fake{number:010x}",
                "threadId": f"18fake{number:010x}",
                "labelIds": ["DRAFT"],
                "raw": base64.urlsafe_b64encode(raw).decode("ascii"),
            },
        }
        (self.drafts if drafts is None else drafts)[draft["id"]] = draft
        return draft

    def _matches(self, draft: dict[str, Any], q: str) -> bool:
        if not q.strip():
            return True
        if not q.startswith("rfc822msgid:") or " " in q.strip():
            raise ApiError(501, f"The fake only searches rfc822msgid:, not {q!r}.", "notImplemented")
        if not self.msgid_search:
            return False
        wanted = q.removeprefix("rfc822msgid:").strip("<>")
        parsed = _parse(_decode(draft["message"]["raw"]))
        return str(parsed.get("Message-ID", "")).strip().strip("<>") == wanted

    def _check_user(self, request: FakeRequest) -> None:
        if request.params["userId"] not in ("me", self._user(request) or self.address):
            raise ApiError(403, "Delegation denied.", "forbidden")


def _decode(raw: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise ApiError(400, "Invalid value for ByteString.", "invalidArgument") from None


def _parse(raw: bytes) -> Message:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if not message.get("From") and not message.get("To"):
        raise ApiError(400, "Invalid draft: the message has no headers.", "invalidArgument")
    return message


def _headers(message: Message) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in message.items()]


def _summary(draft: dict[str, Any]) -> dict[str, Any]:
    message = draft["message"]
    return {"id": draft["id"], "message": {"id": message["id"], "threadId": message["threadId"]}}


def _with_message_id(raw: bytes, message_id: str) -> bytes:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    del message["Message-ID"]
    message["Message-ID"] = message_id
    return message.as_bytes()
