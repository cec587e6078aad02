"""The follow-up email as an RFC 5322 message, ready for a drafts folder.

The Message-ID is derived from the booking id, so a draft sink can tell whether the draft of a
booking is already there after a crash.

A client chooses their name (an ATTENDEE CN, a booking-form answer, a title capture), so a name
must never steer where the draft goes: `address_header` writes From and To itself, with the
name's specials and encoded-word openers neutralised, and keeps the name only when the header
parses back, with both of the stdlib's parsers, to exactly the one address it was built for.
An address no draft can carry is named by `address_problem`, once, before any draft is built.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email.errors import HeaderParseError
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP, compat32
from email.policy import default as modern
from email.utils import format_datetime, getaddresses

from syncd.errors import BadEvent
from syncd.model import DraftMessage, Session
from syncd.rendering import coach_zone
from syncd.text import cut, has_controls, one_line

# Names the draft's booking, so a drafts folder that lost or rewrote the Message-ID can still be
# searched for the draft after a crash.
BOOKING_HEADER = "X-Syncd-Booking"

MAX_ADDRESS = 254  # RFC 5321's limit on a forward path, less its angle brackets
MAX_LOCAL_PART = 64
MAX_DISPLAY_NAME = 64  # characters of a name kept in From / To: one line even quoted

# Headers syncd folds itself are written as they are: the stdlib's refolding of a long phrase
# drops its quotes (a name with commas then parses as several recipients).
_POLICY = SMTP.clone(refold_source="none")
# RFC 5322 specials a phrase must not carry unquoted; `.` is left (initials) since names are
# always quoted or encoded.
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,"]')
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def address_problem(email: str) -> str | None:
    """Why no draft can be addressed to `email`, in a few words; None when one can.

    Refused: no `@`, several addresses in one, control characters or spaces, more than 254
    characters, an internationalised (non-ASCII) local part (drafts are not SMTPUTF8), a local
    part a plain address cannot hold, an encoded word, a domain that is no domain name. A
    non-ASCII domain is fine: it is written in its IDNA (punycode) form.
    """
    if not email:
        return "no email address"
    if has_controls(email) or any(c.isspace() for c in email):
        return "control characters or spaces in it"
    if "@" not in email:
        return "no @ in it"
    if email.count("@") > 1 or any(c in email for c in ",;<>"):
        return "several addresses in one"
    if len(email) > MAX_ADDRESS:
        return f"longer than {MAX_ADDRESS} characters"
    if "=?" in email:
        return "an encoded word (=?) in it"
    local, _, domain = email.partition("@")
    if not local.isascii():
        return "a non-ASCII local part"
    if len(local) > MAX_LOCAL_PART:
        return f"a local part over {MAX_LOCAL_PART} characters"
    if not _LOCAL_PART.fullmatch(local):
        return "characters no plain address holds"
    if _ascii_domain(domain) is None:
        return "not a valid domain name"
    return None


def plain_address(email: str) -> str:
    """`email` (one `address_problem` accepts) as a draft carries it: the domain lower-cased
    and in IDNA form, the local part as given."""
    local, _, domain = email.partition("@")
    ascii_domain = _ascii_domain(domain)
    if address_problem(email) is not None or ascii_domain is None:
        raise ValueError(f"not a usable email address: {one_line(email, 80)!r}")
    return f"{local}@{ascii_domain}"


def _ascii_domain(domain: str) -> str | None:
    try:
        ascii_domain = domain.strip().lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return ascii_domain


def display_name(name: str) -> str:
    """`name` fit to show beside an address: one line, RFC 5322 specials turned into spaces,
    `=?` (an encoded word's opener) broken apart, cut to MAX_DISPLAY_NAME characters."""
    text = " ".join(_SPECIALS.sub(" ", one_line(name, 1000)).split())
    while "=?" in text:
        text = text.replace("=?", "= ?")
    return cut(text, MAX_DISPLAY_NAME)


def address_header(header: str, name: str, addr_spec: str) -> str:
    """The value of the `header` (From, To) naming `addr_spec`, shown as `name`: ASCII, folded
    with CRLF, and read back by any parser as exactly one address, `addr_spec`.

    The name is neutralised (`display_name`), quoted, or encoded when not ASCII; the header is
    then parsed back with the stdlib's modern and compat32 parsers, and the bare address is used
    whenever either finds anything but `addr_spec` alone. `addr_spec` is a `plain_address`.
    """
    shown = display_name(name)
    if shown:
        value = _with_name(header, shown, addr_spec)
        if parses_to(header, value, addr_spec):
            return value
    return addr_spec


def _with_name(header: str, shown: str, addr_spec: str) -> str:
    if shown.isascii():
        phrase = f'"{shown}"'  # `"` and `\` are specials: gone, nothing to escape
    else:
        phrase = Header(shown, "utf-8", maxlinelen=76, header_name=header).encode(linesep="\r\n")
    last_line = phrase.rpartition("\n")[2]
    width = len(header) + 2 if last_line == phrase else 0
    fold = " " if width + len(last_line) + len(addr_spec) + 3 <= 78 else "\r\n "
    return f"{phrase}{fold}<{addr_spec}>"


def parses_to(header: str, value: str, addr_spec: str) -> bool:
    """True when `header: value` parses, with the modern and the compat32 parser, to exactly
    one address and that address is `addr_spec`."""
    raw = f"{header}: {value}\r\n\r\n".encode("ascii", "replace")
    try:
        parsed = BytesParser(policy=modern).parsebytes(raw)[header]
        found = [address.addr_spec for address in parsed.addresses]
    except (HeaderParseError, ValueError, IndexError, AttributeError, TypeError):
        return False
    legacy = BytesParser(policy=compat32).parsebytes(raw).get_all(header, [])
    return found == [addr_spec] and [addr for _, addr in getaddresses(legacy)] == [addr_spec]


def message_id(booking_id: str, sender: str) -> str:
    """`<syncd-HASH@DOMAIN>`: the same for every draft of one booking, DOMAIN from `sender`."""
    digest = hashlib.sha256(booking_id.encode("utf-8")).hexdigest()[:32]
    return f"<syncd-{digest}@{_domain(sender)}>"


def booking_header(booking_id: str) -> str:
    """The `BOOKING_HEADER` value of a booking's draft (one line: it cannot add a header)."""
    return one_line(booking_id, 2000)


def _domain(address: str) -> str:
    return _ascii_domain(address.rpartition("@")[2]) or "syncd.invalid"


def _header_value(header: str, name: str, email: str, who: str, booking_id: str) -> str:
    problem = address_problem(email)
    if problem is not None:
        raise BadEvent(
            f"booking {booking_id}: the {who}'s email {one_line(email, 80)!r} is unusable: {problem}"
        )
    return address_header(header, name, plain_address(email))


def build_draft(session: Session, subject: str, body: str, *, now: datetime) -> DraftMessage:
    """The follow-up for `session` as a UTF-8 text/plain message with CRLF line ends.

    `now`, the pass's time (never the clock read again), becomes the Date header, in the
    coach's zone.
    Raises BadEvent if the client has no (usable) email address.
    """
    booking = session.booking_id
    if not session.client.email.strip():
        raise BadEvent(f"booking {booking}: the client gave no email address, so no follow-up draft")
    message = EmailMessage(policy=_POLICY)
    message.set_raw("From", _header_value("From", session.coach.name, session.coach.email, "coach", booking))
    message.set_raw("To", _header_value("To", session.client.name, session.client.email, "client", booking))
    message["Subject"] = one_line(subject)
    moment = now.astimezone(coach_zone(session.coach))
    message["Date"] = format_datetime(moment)
    mid = message_id(booking, session.coach.email)
    message["Message-ID"] = mid
    message[BOOKING_HEADER] = booking_header(booking)
    message.set_content(body.replace("\r\n", "\n"), subtype="plain", charset="utf-8")
    return DraftMessage(booking_id=booking, message_id=mid, raw=message.as_bytes())
