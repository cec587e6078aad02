"""Hostile client text (issue 9): a name a client chose never steers a draft.

Every hostile name goes through the real pipeline: written into an .ics event the way a booking
tool would carry it (ATTENDEE CN, a booking-form `Name:` answer, a title capture), one
`syncd once` for all of them, then each draft is parsed back with the stdlib's modern and
compat32 parsers: exactly one To address, the client's, and the coach's From.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import getaddresses
from pathlib import Path

import pytest

from syncd import logs
from syncd.calendars.ics_events import load_calendar
from syncd.errors import BadEvent
from syncd.followup import address_header, address_problem, display_name, parses_to, plain_address
from syncd.model import Client, Coach, Session
from syncd.notes.docs_requests import markdown_paragraphs
from syncd.notes.google_docs import open_items as docs_open_items
from syncd.notes.markdown import open_items as markdown_open_items
from syncd.notes.markdown import split_front_matter
from syncd.templating import Renderer
from tests.support import COACH, Workspace

EVIL = "evil@attacker.example"


def _b64(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


HOSTILE_NAMES: dict[str, str] = {
    "q-word address": "=?utf-8?q?evil=40attacker.example?=",
    "q-word angle address": "=?utf-8?q?Eve_=3Cevil=40attacker.example=3E?=",
    "b-word angle address": _b64(f"Eve <{EVIL}>"),
    "b-word two addresses": _b64(f"{EVIL}, other@attacker.example"),
    "q-word comma": "=?utf-8?q?a=2C_evil=40attacker.example?=",
    "upper-case q-word": "=?UTF-8?Q?evil=40attacker.example?=",
    "latin-1 q-word": "=?iso-8859-1?q?evil=40attacker.example?=",
    "split encoded words": "=?utf-8?q?evil?= =?utf-8?q?=40attacker.example?=",
    "name then b-word": "Jane " + _b64(f"<{EVIL}>"),
    "encoded word in quotes": '"=?utf-8?q?evil=40attacker.example?="',
    "last, first": "Doe, Jane",
    "comma and address": f"Jane, {EVIL}",
    "semicolon and address": f"Jane; {EVIL}",
    "group syntax": f"x: {EVIL};",
    "group of two": f"undisclosed: {EVIL}, other@attacker.example;",
    "angle address": f"Jane <{EVIL}>",
    "angle only": f"<{EVIL}>",
    "address as name": EVIL,
    "quoted address": f'Jane "{EVIL}" Doe',
    "unbalanced quote": f'"Jane <{EVIL}>',
    "backslash quote": f'Jane \\" <{EVIL}>',
    "trailing backslash": "Jane Doe\\",
    "comment address": f"Jane ({EVIL}) Doe",
    "unbalanced comment": f"Jane ({EVIL}",
    "nested comments": f"((a)b) {EVIL}",
    "domain literal": f"Jane [{EVIL}]",
    "long with specials": "Jane, " + "(x), a: b; " * 10 + EVIL,
    "long over 70 with commas": "Very long name with, commas, and (parentheses) and: colons that go on and on beyond",
    "very long plain": "A" * 300,
    "long then address": "x" * 75 + f", {EVIL}",
    "crlf bcc": f"Jane\r\nBcc: {EVIL}",
    "lf to": f"Jane\nTo: {EVIL}",
    "cr cc": f"Jane\rCc: {EVIL}",
    "nul": f"Jane\x00{EVIL}",
    "ansi escape": "Jane \x1b[31mRed\x1b[0m",
    "line separator": f"Jane\u2028Bcc: {EVIL}",
    "bidi override": "Jane \u202eelpmaxe.rekcatta@live\u202c",
    "bidi isolate": f"\u2066{EVIL}\u2069",
    "emoji": "Jane 😀 Doe 🎉",
    "emoji and address": f"😀, {EVIL}",
    "long non-ascii": "Zoë Ünal-Şahin 山田 " * 6,
    "fullwidth look-alikes": "Jane \uff1cevil\uff20attacker.example\uff1e",
    "tab": "Jane\tDoe",
    "zero width": "Ja\u200bne",
    "only specials": ',;:<>()[]\\"@',
    "template syntax": "{{ coach.email }} {% raw %}",
    "html": "<script>alert(1)</script>",
    "mailto": f"mailto:{EVIL}",
    "lone encoded-word opener": "Jane =? Doe",
    "suffix after comma": "Ravi Sharma, PhD",
}

# How a booking tool hands syncd the client's name.
ROUTES = ("cn", "answer", "title")
TITLE_RULE = r"(?is)^intro(?: with (?P<client>.+))?"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _param(value: str) -> str:
    """`value` as a quoted iCalendar parameter (RFC 6868 escapes for ^, line breaks and ")."""
    text = value.replace("^", "^^").replace("\r\n", "^n").replace("\r", "^n").replace("\n", "^n")
    return '"' + text.replace('"', "^'") + '"'


def _put(ws: Workspace, uid: str, name: str, route: str, client_email: str, start: datetime) -> None:
    if route == "cn":
        # `client=` (not `extra=`, which is split into lines, U+2028 too): put quotes the CN.
        ws.put(uid, "Intro session", start, client=(_param(name)[1:-1], client_email))
    elif route == "answer":
        answers = f"Name: {name}\nEmail: {client_email}\n"
        ws.put(uid, "Intro session", start, client=None, description=answers)
    else:
        attendee = f'ATTENDEE;CN="";PARTSTAT=ACCEPTED:mailto:{client_email}'
        ws.put(uid, f"Intro with {name.replace(chr(13), chr(10))}", start, client=None, extra=attendee)


CASES = [(case, route) for case in HOSTILE_NAMES for route in ROUTES]


def _uid(index: int) -> str:
    return f"hostile-{index}"


def _client(index: int) -> str:
    return f"client{index}@client.example"


@pytest.fixture(scope="module")
def hostile_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Workspace, dict[str, bytes], str]]:
    """One workspace with every hostile booking and a canary, after one `syncd once`: the
    drafts by event uid, and the run's log."""
    ws = Workspace(tmp_path_factory.mktemp("hostile"), extra_coach=f"    match: {{title: '{TITLE_RULE}'}}\n")
    start = now() - timedelta(hours=2)
    for index, (case, route) in enumerate(CASES):
        _put(ws, _uid(index), HOSTILE_NAMES[case], route, _client(index), start)
    ws.put("canary", "Intro session", start, client=("Jane Client", "jane@client.example"))
    result = ws.run("once")
    drafts = {}
    for path in ws.draft_files():
        raw = path.read_bytes()
        booking = str(email.message_from_bytes(raw).get("X-Syncd-Booking", ""))
        drafts[booking.rpartition("/")[2]] = raw
    yield ws, drafts, result.stderr


def _modern(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _legacy(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def assert_one_recipient(raw: bytes, client_email: str) -> None:
    """The draft is to `client_email` alone and from the coach, whichever parser reads it."""
    modern, legacy = _modern(raw), _legacy(raw)
    to = modern["To"]
    assert [a.addr_spec for a in to.addresses] == [client_email]
    assert [a.addr_spec for a in modern["From"].addresses] == [COACH]
    assert all("@" not in a.display_name and "<" not in a.display_name for a in to.addresses)
    assert [addr for _, addr in getaddresses(legacy.get_all("To", []))] == [client_email]
    assert [addr for _, addr in getaddresses(legacy.get_all("From", []))] == [COACH]
    for header in ("Cc", "Bcc", "Reply-To", "Sender"):
        assert header not in modern
    assert len(legacy.get_all("To", [])) == 1


@pytest.mark.parametrize(("index", "case", "route"), [(i, c, r) for i, (c, r) in enumerate(CASES)])
def test_hostile_name_draft_goes_to_the_client_alone(
    hostile_run: tuple[Workspace, dict[str, bytes], str], index: int, case: str, route: str
) -> None:
    """Whatever the name (through CN, a `Name:` answer or a title capture), the draft parses
    back, with both stdlib parsers, to one To address, the client's, and the coach's From."""
    _, drafts, log = hostile_run
    assert _uid(index) in drafts, f"no draft for {case!r} via {route}; log:\n{log}"
    assert_one_recipient(drafts[_uid(index)], _client(index))


def test_canary_beside_hostile_bookings_gets_its_draft(
    hostile_run: tuple[Workspace, dict[str, bytes], str],
) -> None:
    """An ordinary booking in the same pass keeps its name and gets its draft."""
    _, drafts, _ = hostile_run
    assert_one_recipient(drafts["canary"], "jane@client.example")
    [to] = _modern(drafts["canary"])["To"].addresses
    assert to.display_name == "Jane Client"


def test_hostile_run_logs_no_error_and_one_line_per_message(
    hostile_run: tuple[Workspace, dict[str, bytes], str],
) -> None:
    """No booking failed, and no name forged a log line: each line starts with a timestamp."""
    _, drafts, log = hostile_run
    assert len(drafts) == len(CASES) + 1
    assert " ERROR " not in log
    assert "Traceback" not in log
    for line in log.splitlines():
        assert line[:4].isdigit() and line[4] == "-", f"forged or broken log line: {line!r}"


# --- the address header, unit by unit ------------------------------------------------------------


@pytest.mark.parametrize("case", HOSTILE_NAMES, ids=list(HOSTILE_NAMES))
@pytest.mark.parametrize("header", ["To", "From"])
def test_address_header_parses_back_to_exactly_the_address(case: str, header: str) -> None:
    """`address_header` holds one address, the given one, for every hostile name, and is
    ASCII with lines of at most 78 characters before the address."""
    value = address_header(header, HOSTILE_NAMES[case], "jane@client.example")
    assert value.isascii()
    assert parses_to(header, value, "jane@client.example")
    assert "=?" not in display_name(HOSTILE_NAMES[case])


def test_a_plain_name_is_kept_quoted() -> None:
    assert address_header("To", "Jane Doe", "jane@client.example") == '"Jane Doe" <jane@client.example>'


def test_a_name_with_nothing_left_gives_the_bare_address() -> None:
    assert address_header("To", ',;:<>()"@', "jane@client.example") == "jane@client.example"


def test_parses_to_refuses_a_header_with_two_addresses() -> None:
    """The check itself can fail: the old unquoted folding is caught."""
    assert not parses_to("To", f"{EVIL} <jane@client.example>", "jane@client.example")
    assert not parses_to("To", "Eve <evil@x.example> <jane@client.example>", "jane@client.example")
    assert not parses_to("To", '"a" <jane@client.example>, b@x.example', "jane@client.example")


UNUSABLE = {
    "empty": "",
    "no at": "jane.client.example",
    "two ats": "jane@client@example.com",
    "two addresses": f"jane@client.example,{EVIL}",
    "semicolon list": f"jane@client.example;{EVIL}",
    "angle": f"jane@client.example<{EVIL}>",
    "space": "jane doe@client.example",
    "newline": "jane@client.example\nBcc: x@y.example",
    "nul": "jane\x00@client.example",
    "bidi": "jane\u202e@client.example",
    "overlong": "a" * 60 + "@" + ("b" * 60 + ".") * 4 + "example",
    "overlong local part": "a" * 65 + "@client.example",
    "non-ascii local part": "jöhn@client.example",
    "quoted local part": '"jane doe"@client.example',
    "leading dot": ".jane@client.example",
    "encoded word": "=?utf-8?q?x?=@client.example",
    "bad domain": "jane@-client.example",
}


@pytest.mark.parametrize("case", UNUSABLE, ids=list(UNUSABLE))
def test_address_problem_names_unusable_addresses(case: str) -> None:
    """Each unusable address gets a short reason (shown in `syncd status`)."""
    problem = address_problem(UNUSABLE[case])
    assert problem
    assert len(f"unusable client email: {problem}") <= 60


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("jane@client.example", "jane@client.example"),
        ("Jane.O'Brien+intro@Client.Example", "Jane.O'Brien+intro@client.example"),
        ("jane@bücher.example", "jane@xn--bcher-kva.example"),
        ("jane@localhost", "jane@localhost"),
    ],
)
def test_usable_addresses_are_sent_as_plain_ascii(given: str, sent: str) -> None:
    """Ordinary addresses pass; an internationalised domain is written in IDNA form."""
    assert address_problem(given) is None
    assert plain_address(given) == sent


# --- unusable addresses through the pipeline -----------------------------------------------------


def test_unusable_client_address_is_skipped_once_with_a_reason(tmp_path: Path) -> None:
    """A client address no draft can carry: the follow-up is skipped once, the reason is in
    `syncd status`, the next pass says nothing about it, and the canary gets its draft."""
    ws = Workspace(tmp_path)
    start = now() - timedelta(hours=2)
    ws.put("intl", "Intro session", start, client=("Jöhn Doe", "jöhn@client.example"))
    ws.put("long", "Intro session", start, client=("Lon Gname", "a" * 250 + "@client.example"))
    ws.put("canary", "Intro session", start, client=("Jane Client", "jane@client.example"))
    first = ws.run("once")
    assert " ERROR " not in first.stderr
    assert first.stderr.count("follow-up skipped: unusable client email") == 2
    drafts = ws.drafts_parsed()
    assert [[a.addr_spec for a in d["To"].addresses] for d in drafts] == [["jane@client.example"]]
    status = ws.run("status").stdout
    assert "non-ASCII local part" in status
    assert "longer than 254 characters" in status
    second = ws.run("once")
    assert "unusable" not in second.stderr
    assert " ERROR " not in second.stderr
    assert len(ws.draft_files()) == 1


def test_internationalised_domain_gets_a_draft_in_idna_form(tmp_path: Path) -> None:
    """Send what can be sent: a Unicode domain is written as punycode."""
    ws = Workspace(tmp_path)
    ws.put("idn", "Intro session", now() - timedelta(hours=2), client=("Jane Doe", "jane@bücher.example"))
    ws.run("once")
    [draft] = ws.drafts_parsed()
    assert [a.addr_spec for a in draft["To"].addresses] == ["jane@xn--bcher-kva.example"]


# --- log lines -----------------------------------------------------------------------------------

FORGE = "\n2026-12-01 09:00:00 ERROR forged line\r\x1b[31mred\x1b[0m \u202eevil"


def _log_line(message: str, *args: object) -> str:
    record = logging.LogRecord("syncd.test", logging.WARNING, __file__, 1, message, args, None)
    assert logs.RedactingFilter().filter(record)
    return logs.make_formatter("text", journal=False).format(record)


@pytest.mark.parametrize("where", ["uid", "name", "file line"])
def test_outside_values_give_one_log_line_with_visible_escapes(where: str) -> None:
    """A UID, a name or a file's line holding line breaks, ANSI escapes or bidi controls is
    written on the message's one line, escaped (`\\n`, `\\x1b`, `\\u202e`), whatever the call
    site did with it."""
    line = _log_line(f"coach a@b.example: {where} %s: skipped", FORGE)
    assert len(line.splitlines()) == 1
    assert "\x1b" not in line and "\r" not in line and "\u202e" not in line
    assert "\\n2026-12-01 09:00:00 ERROR forged line\\r\\x1b[31m" in line
    assert "\\u202eevil" in line


def test_json_log_lines_stay_one_object_per_message() -> None:
    record = logging.LogRecord("syncd.test", logging.INFO, __file__, 1, "event %s", (FORGE,), None)
    assert logs.RedactingFilter().filter(record)
    output = logs.make_formatter("json", journal=False).format(record)
    assert len(output.splitlines()) == 1
    assert "\x1b" not in json.loads(output)["msg"]


LEAKS = {
    "compact json": ('{"access_token":"eyJhbGciOi.payload.sig"}', "eyJhbGciOi"),
    "spaced json": ('{"access_token" : "eyJhbGciOi.payload.sig"}', "eyJhbGciOi"),
    "escaped json": ('body: {\\"refresh_token\\":\\"r3fresh-me\\"}', "r3fresh-me"),
    "camel case": ('{"refreshToken":"r3fresh-me"}', "r3fresh-me"),
    "kebab case": ("client-secret: s3cr3t-val", "s3cr3t-val"),
    "form": ("grant_type=refresh_token&refresh_token=r3fresh-me", "r3fresh-me"),
    "query": ("GET /cb?state=x&code=4/0Afcode&scope=y", "4/0Afcode"),
    "bearer": ("Authorization: Bearer eyJhbGciOi.payload", "eyJhbGciOi"),
    "bearer colon": ("authorization:Bearer eyJhbGciOi.payload", "eyJhbGciOi"),
    "raw authorization": ("Authorization: eyJhbGciOi.payload", "eyJhbGciOi"),
    "quoted token key": ("{'token': 'eyJhbGciOi.payload'}", "eyJhbGciOi"),
    "token form": ("token=eyJhbGciOi.payload&x=1", "eyJhbGciOi"),
    "password": ("password = hunter2hunter2", "hunter2"),
    "api key": ("api_key=k3y-k3y-k3y", "k3y-k3y"),
    "split by line breaks": ("access_token\n:\n s3cr3t-val", "s3cr3t-val"),
    "escaped quote inside": ('password: "hunter\\"2-tail"', "2-tail"),
    "escaped quote inside single": ("password='hunter\\'2-tail'", "2-tail"),
}


@pytest.mark.parametrize("case", LEAKS, ids=list(LEAKS))
def test_secret_variants_are_masked_in_log_lines(case: str) -> None:
    """The redaction catches a secret however the key is spelt or spaced."""
    text, secret = LEAKS[case]
    line = _log_line("failed: %s", text)
    assert secret not in line
    assert "***" in line


def test_ordinary_words_about_tokens_are_not_masked() -> None:
    text = "the Google token: expired; syncToken=abc123 kept; event 1//x at 10:00"
    assert logs.redact(text) == text


@pytest.mark.parametrize(
    "content",
    [
        "hunter2-the-long-password-nobody-may-read\n",
        '{"installed": {"client_secret": "s3cr3t-s3cr3t-s3cr3t"}}\n',
        "root:x:0:0:secret-gecos-field:/root:/bin/bash\n",
        'BEGIN:VCALENDAR\nX-A;B="hunter2-the-long-password\n' + "END:VCALENDAR\n",
    ],
)
def test_a_bad_calendar_file_is_quoted_only_as_a_short_excerpt(content: str) -> None:
    """The parser's error quotes the line it read; syncd keeps at most 12 characters of it."""
    with pytest.raises(BadEvent) as caught:
        load_calendar(content)
    message = str(caught.value)
    assert "\n" not in message
    for secret in ("the-long-password", "s3cr3t-s3cr3t", "secret-gecos", "/bin/bash"):
        assert secret not in message


def test_symlinked_secret_and_forged_uid_reach_the_log_as_one_escaped_line_each(tmp_path: Path) -> None:
    """Through the pipeline: a calendar file that is a symlink to a secret, a file name and a
    UID holding a line break. Each message is one log line, the secret is not in the log, and
    the canary still gets its draft."""
    ws = Workspace(tmp_path)
    secret = tmp_path / "token.json"
    secret.write_text('{"refresh_token":"s3cr3t-r3fresh-value"}\r\x1b[2J\nsecond line\n', encoding="utf-8")
    (ws.calendar / "linked.ics").symlink_to(secret)
    (ws.calendar / "evil\n2026-12-01 09:00:00 ERROR forged.ics").write_text("garbage\n", encoding="utf-8")
    start = now() - timedelta(hours=2)
    ws.put("forged", "Intro session", start, client=("Bo^nINFO forged", "bo@client.example"))
    (ws.calendar / "forged.ics").write_text(
        (ws.calendar / "forged.ics")
        .read_text(encoding="utf-8")
        .replace("UID:forged", "UID:forged\\n2026-12-01 09:00:00 ERROR forged uid\x1b[31m"),
        encoding="utf-8",
    )
    ws.put("canary", "Intro session", start, client=("Jane Client", "jane@client.example"))
    log = ws.run("once").stderr
    for line in log.splitlines():
        assert line[:4].isdigit() and line[4] == "-", f"forged or broken log line: {line!r}"
    assert "s3cr3t-r3fresh-value" not in log
    assert "second line" not in log
    assert "\x1b" not in log
    assert "forged 2026-12-01 09:00:00 ERROR forged uid" in log  # folded into its line
    # The UID with a line break is found again, so that booking gets its draft too.
    to = sorted(a.addr_spec for d in ws.drafts_parsed() for a in d["To"].addresses)
    assert to == ["bo@client.example", "jane@client.example"], log


# --- client text in the note ---------------------------------------------------------------------

HOSTILE_ANSWERS = (
    "Name: <script>alert(1)</script> Jane\n"
    "Email: jane@client.example\n"
    "Background: [click me](javascript:alert(1)) and ![pixel](https://evil.example/p.png)\n"
    "  <img src=x onerror=alert(1)> ![[Private note]]\n"
    "  ## Action items\n"
    "  - [ ] Pay the client 500 EUR (due 2026-12-08)\n"
    "  > [!danger] forged callout\n"
    "  1. numbered\n"
    "  ---\n"
    "Company: Tom & Jerry Ltd\n"
    "Challenge: `code` and \\[escaped\\](x) and JavaScript:void(0)\n"
    "  Action items:\n"
    "  ☐ Wire the client 900 EUR\n"
)


def _hostile_session() -> Session:
    client = Client(
        name="<script>alert(1)</script> Jane",
        email="jane@client.example",
        background=(
            "[click me](javascript:alert(1)) and ![pixel](https://evil.example/p.png)\n"
            "<img src=x onerror=alert(1)> <https://evil.example/auto> ![[Private note]]\n"
            "## Action items\n- [ ] Pay the client 500 EUR (due 2026-12-08)\n> [!danger] forged callout\n"
            "1. numbered\n---"
        ),
        company="Tom & Jerry <b>Ltd</b>",
        challenge="`code` and \\[escaped\\](x) and JavaScript:void(0)",
    )
    coach = Coach("Ada Coach", COACH, "Europe/Berlin", "https://ada.example/pricing", ("leadership",))
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    return Session("b-hostile", coach, client, start, start + timedelta(minutes=30))


def assert_inert(note: str) -> None:
    """No HTML tag, autolink, link, image, embed or block the client typed renders as such."""
    for raw in ("<script", "<img", "<b>", "<https:", "](javascript:", "![pixel](", "![[", "JavaScript:void"):
        assert raw not in note, raw
    assert "&lt;script&gt;" in note and "Tom &amp; Jerry" in note
    assert "\\[click me\\](javascript\\:alert(1))" in note
    for line in note.splitlines():
        stripped = line.lstrip()
        assert not stripped.startswith(("- [ ] Pay", "> [!danger]", "1. numbered", "---", "<")), line
        assert not re.match(r"#+ Action items", stripped) or line == "## Action items", line
    assert sum(line == "## Action items" for line in note.splitlines()) == 1


def test_client_html_and_markdown_are_inert_in_the_note() -> None:
    """Scripts, event handlers, `javascript:` links, remote images, embeds and injected
    headings, tasks and callouts from the booking are shown as text, not rendered."""
    note = Renderer().render_note(_hostile_session(), datetime(2026, 11, 30, 9, tzinfo=UTC))
    assert_inert(note)
    assert not any("Pay the client" in item for item in markdown_open_items(note))


def test_a_google_doc_built_from_the_note_shows_client_text_as_typed_and_flat() -> None:
    """The Doc made from the same note shows the client's text as typed (entities decoded;
    brackets and line-start marks stay escaped), with no heading or task of theirs."""
    note = Renderer().render_note(_hostile_session(), datetime(2026, 11, 30, 9, tzinfo=UTC))
    paragraphs = markdown_paragraphs(note)
    texts = [p.text for p in paragraphs]
    assert any("<script>alert(1)</script> Jane" in t for t in texts)
    assert any("\\[click me\\](javascript:alert(1))" in t for t in texts)  # brackets stay escaped
    assert any("Tom & Jerry <b>Ltd</b>" in t for t in texts)
    client_headings = [p for p in paragraphs if p.style.startswith("HEADING") and "Action items" in p.text]
    assert len(client_headings) == 1
    assert not any("Pay the client" in item for item in docs_open_items(paragraphs))


def test_the_follow_up_keeps_client_text_plain() -> None:
    """The email is plain text: the client's name is not escaped there."""
    session = _hostile_session()
    _, body = Renderer().render_followup(
        dataclasses.replace(session, client=Client("Tom & Jo", "t@x.example")), [], ""
    )
    assert "Hey Tom!" in body


def test_hostile_answers_through_the_pipeline_give_an_inert_note_and_no_injected_next_step(
    tmp_path: Path,
) -> None:
    """Through a real pass: the note is inert, and the injected task does not become one of
    the follow-up's next steps."""
    ws = Workspace(tmp_path)
    ws.put("html", "Intro session", now() - timedelta(hours=2), client=None, description=HOSTILE_ANSWERS)
    ws.run("once")
    [note] = ws.notes()
    # The front matter is YAML data (JSON-quoted strings), not rendered Markdown: the body is.
    _, text = split_front_matter(note.read_text(encoding="utf-8"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert_inert(text)
    [draft] = ws.drafts_parsed()
    body = draft.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    assert "Pay the client" not in body.get_content()
    assert "Wire the client" not in body.get_content()
    assert [a.addr_spec for a in draft["To"].addresses] == ["jane@client.example"]


def test_a_traceback_keeps_its_lines_but_not_terminal_escapes() -> None:
    """An internal error's traceback stays multi-line, but a CR or ANSI escape in the
    exception's text (a UID, a file's content) is shown escaped."""
    try:
        raise RuntimeError("bad uid x\r\x1b[2Kforged")
    except RuntimeError:
        record = logging.LogRecord("syncd.test", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert logs.RedactingFilter().filter(record)
    output = logs.make_formatter("text", journal=False).format(record)
    assert len(output.splitlines()) > 2
    assert "\x1b" not in output and "\r" not in output
    assert "bad uid x\\r\\x1b[2Kforged" in output
