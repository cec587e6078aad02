"""The follow-up email as an RFC 5322 message, ready for a drafts folder.

The Message-ID is derived from the booking id, so a draft sink can tell whether the draft of a
booking is already there after a crash. Names are cleaned and encoded by `email.headerregistry`,
so nothing a client typed into a booking form can add a header.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from syncd.errors import BadEvent
from syncd.model import DraftMessage, Session
from syncd.rendering import coach_zone
from syncd.text import one_line

# Names the draft's booking, so a drafts folder that lost or rewrote the Message-ID can still be
# searched for the draft after a crash.
BOOKING_HEADER = "X-Syncd-Booking"

_ADDR_SPEC = re.compile(r"^[^@\s<>,;\"()\[\]\\]+@[^@\s<>,;\"()\[\]\\]+$")


def message_id(booking_id: str, sender: str) -> str:
    """`<syncd-HASH@DOMAIN>`: the same for every draft of one booking, DOMAIN from `sender`."""
    digest = hashlib.sha256(booking_id.encode("utf-8")).hexdigest()[:32]
    return f"<syncd-{digest}@{_domain(sender)}>"


def booking_header(booking_id: str) -> str:
    """The `BOOKING_HEADER` value of a booking's draft (one line: it cannot add a header)."""
    return one_line(booking_id, 2000)


def _domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip().lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "syncd.invalid"
    return ascii_domain if re.fullmatch(r"[a-z0-9.-]+", ascii_domain) else "syncd.invalid"


def _address(name: str, email: str, who: str, booking_id: str) -> Address:
    addr_spec = one_line(email, 320)
    if not _ADDR_SPEC.match(addr_spec):
        raise BadEvent(f"booking {booking_id}: the {who}'s email {addr_spec!r} is not an email address")
    try:
        return Address(display_name=one_line(name), addr_spec=addr_spec)
    except (ValueError, HeaderParseError, IndexError) as exc:
        raise BadEvent(f"booking {booking_id}: the {who}'s email {addr_spec!r} is unusable: {exc}") from None


def build_draft(session: Session, subject: str, body: str, *, now: datetime) -> DraftMessage:
    """The follow-up for `session` as a UTF-8 text/plain message with CRLF line ends.

    `now`, the pass's time (never the clock read again), becomes the Date header, in the
    coach's zone.
    Raises BadEvent if the client has no (usable) email address.
    """
    booking = session.booking_id
    if not session.client.email.strip():
        raise BadEvent(f"booking {booking}: the client gave no email address, so no follow-up draft")
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(session.coach.name, session.coach.email, "coach", booking)
    message["To"] = _address(session.client.name, session.client.email, "client", booking)
    message["Subject"] = one_line(subject)
    moment = now.astimezone(coach_zone(session.coach))
    message["Date"] = format_datetime(moment)
    mid = message_id(booking, session.coach.email)
    message["Message-ID"] = mid
    message[BOOKING_HEADER] = booking_header(booking)
    message.set_content(body.replace("\r\n", "\n"), subtype="plain", charset="utf-8")
    return DraftMessage(booking_id=booking, message_id=mid, raw=message.as_bytes())
