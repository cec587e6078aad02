"""Which events are intro bookings, and what syncd reads about the client from them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from syncd.config import AnswerLabels
from syncd.detection import Rules, description_text, detect, name_from_address, natural_order, parse_answers
from syncd.linkblock import apply_block
from syncd.model import Annotation, Attendee, CalendarEvent

COACH = "ada@coach.example"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LABELS = {name: tuple(v) for name, v in AnswerLabels().model_dump().items()}


def rules(**kwargs: object) -> Rules:
    base: dict[str, object] = {
        "title": re.compile(r"(?i)\bintro\b"),
        "coach_addresses": frozenset({COACH}),
        "labels": LABELS,
    }
    base.update(kwargs)
    return Rules(**base)  # type: ignore[arg-type]


def event(
    summary: str = "Intro session", attendees: tuple[Attendee, ...] = (), **kwargs: object
) -> CalendarEvent:
    fields: dict[str, object] = {
        "id": "e1",
        "summary": summary,
        "start": START,
        "end": START + timedelta(minutes=30),
        "organizer": COACH,
        "attendees": attendees,
    }
    fields.update(kwargs)
    return CalendarEvent(**fields)  # type: ignore[arg-type]


JANE = Attendee("jane@client.example", "Jane Doe")
ME = Attendee(COACH, "Ada Coach", is_self=True, organizer=True)


def test_client_name_comes_from_the_other_attendees_cn() -> None:
    verdict = detect(event(attendees=(ME, JANE)), rules())
    assert verdict.client is not None
    assert (verdict.client.name, verdict.client.email) == ("Jane Doe", "jane@client.example")


def test_coach_address_is_never_taken_for_the_client_even_without_self_flag() -> None:
    coach_plain = Attendee(COACH.upper(), "Ada")
    verdict = detect(event(attendees=(coach_plain, JANE)), rules())
    assert verdict.client is not None and verdict.client.email == "jane@client.example"


def test_name_captured_by_the_title_when_the_attendee_has_no_cn() -> None:
    title = re.compile(r"(?i)\bintro\b.*with (?P<client>.+)")
    verdict = detect(event("Intro call with Sam Lee", (Attendee("sam@x.example"),)), rules(title=title))
    assert verdict.client is not None and verdict.client.name == "Sam Lee"


def test_name_falls_back_to_the_email_local_part_read_as_a_name() -> None:
    verdict = detect(event(attendees=(Attendee("kim.park@x.example"),)), rules())
    assert verdict.client is not None and verdict.client.name == "Kim Park"


def test_cn_that_is_the_guests_email_is_not_taken_for_a_name() -> None:
    """Google writes CN=the address for a guest without a profile name."""
    tom = Attendee("tom.obrien@gmail.com", "tom.obrien@gmail.com")
    verdict = detect(event(attendees=(ME, tom)), rules())
    assert verdict.client is not None and verdict.client.name == "Tom Obrien"


def test_googles_booked_by_answer_names_the_client() -> None:
    tom = Attendee("tom.obrien@gmail.com", "tom.obrien@gmail.com")
    description = "Booked by\nTom O'Brien\ntom.obrien@gmail.com\n\nChallenge: Getting promoted\n"
    verdict = detect(event(attendees=(ME, tom), description=description), rules())
    assert verdict.client is not None
    assert (verdict.client.name, verdict.client.challenge) == ("Tom O'Brien", "Getting promoted")


def test_name_from_address_splits_on_separators_and_drops_digits() -> None:
    assert name_from_address("tom.obrien@gmail.com") == "Tom Obrien"
    assert name_from_address("j_doe-1985+coaching@x.example") == "J Doe Coaching"
    assert name_from_address("jdoe1985@x.example") == "Jdoe"
    assert name_from_address("12345@x.example") == "12345"


def test_outlook_last_comma_first_cn_becomes_first_last() -> None:
    ravi = Attendee("ravi.sharma@corp.example", "Sharma, Ravi")
    verdict = detect(event(attendees=(ME, ravi)), rules())
    assert verdict.client is not None and verdict.client.name == "Ravi Sharma"


def test_natural_order_leaves_names_that_are_not_last_comma_first() -> None:
    assert natural_order("van Dyke, Mary Ann") == "Mary Ann van Dyke"
    for name in ("Ravi Sharma, PhD", "Ravi Sharma", "Acme, Inc., Sales", "Sharma, Ravi (Contractor)"):
        assert natural_order(name) == name


def test_title_that_does_not_match_is_not_a_booking() -> None:
    assert detect(event("Team standup", (JANE,)), rules()).client is None
    assert detect(event("Introspection workshop", (JANE,)), rules()).client is None


def test_all_day_and_cancelled_events_are_never_bookings() -> None:
    assert detect(event(attendees=(JANE,), all_day=True), rules()).client is None
    assert detect(event(attendees=(JANE,), status="cancelled"), rules()).client is None


def test_exclude_organizer_and_domain_rules_all_apply() -> None:
    assert detect(event("Intro (internal)", (JANE,)), rules(exclude=re.compile("internal"))).client is None
    assert detect(event(attendees=(JANE,)), rules(organizer=re.compile("calendly"))).client is None
    assert detect(event(attendees=(JANE,)), rules(attendee_domain="other.example")).client is None
    assert detect(event(attendees=(JANE,)), rules(attendee_domain="client.example")).client is not None


def test_booking_without_any_client_is_reported_not_silently_dropped() -> None:
    verdict = detect(event(attendees=(ME,)), rules())
    assert verdict.client is None and "no client" in verdict.problem


def test_answers_map_to_the_note_fields_and_keep_multiline_text() -> None:
    description = (
        "Event Name: Intro session\n"
        "Background: Senior engineer\n"
        "  eight years in fintech\n"
        "Company/Team: Ledgerly, payments\n"
        "What would you like to work on?\n"
        "Moving into leadership\n"
        "without losing the code\n"
        "Coaching preferences: direct feedback\n"
        "Invitee Time Zone: America/New_York\n"
        "Reschedule: https://cal.example/r/1\n"
    )
    answers = parse_answers(description, LABELS)
    assert answers["background"] == "Senior engineer\n  eight years in fintech"
    assert answers["company"] == "Ledgerly, payments"
    assert answers["challenge"] == "Moving into leadership\nwithout losing the code"
    assert answers["preferences"] == "direct feedback"
    assert answers["timezone"] == "America/New_York"


def test_answers_are_read_from_the_description_without_syncds_block() -> None:
    annotation = Annotation("b", "file:///n.md", "Jane", None, "Challenge: not from the client")
    description = apply_block("Challenge: hiring", annotation)
    verdict = detect(event(attendees=(JANE,), description=description), rules())
    assert verdict.client is not None and verdict.client.challenge == "hiring"


def test_client_zone_from_the_answers_else_the_events_zone() -> None:
    with_answer = event(attendees=(JANE,), description="Time zone: Asia/Tokyo", timezone="Europe/Paris")
    plain = event(attendees=(JANE,), timezone="Europe/Paris")
    assert detect(with_answer, rules()).client.timezone == "Asia/Tokyo"  # type: ignore[union-attr]
    assert detect(plain, rules()).client.timezone == "Europe/Paris"  # type: ignore[union-attr]


def test_an_events_own_zone_syncd_cannot_read_is_not_taken_for_the_clients() -> None:
    """An Outlook custom TZID is how the file is written, not something the booking says:
    it is dropped quietly (a booking answer syncd cannot read is warned about instead)."""
    custom = event(attendees=(JANE,), timezone="Customized Time Zone")
    answered = event(attendees=(JANE,), description="Time zone: Mars", timezone="Customized Time Zone")
    assert detect(custom, rules()).client.timezone == ""  # type: ignore[union-attr]
    assert detect(answered, rules()).client.timezone == "Mars"  # type: ignore[union-attr]


def test_declined_attendee_is_not_the_client() -> None:
    declined = Attendee("old@x.example", "Old", response="declined")
    verdict = detect(event(attendees=(declined, JANE)), rules())
    assert verdict.client is not None and verdict.client.email == "jane@client.example"


def test_blank_line_ends_an_answer_so_booking_page_and_video_call_text_is_not_absorbed() -> None:
    description = (
        "Event Name: Coaching Intro\n"
        "\n"
        "Challenge: Getting promoted to principal\n"
        "while keeping my team\n"
        "\n"
        "Need to make changes to this event?\n"
        "Cancel: https://calendly.com/cancellations/abc\n"
        "Reschedule: https://calendly.com/reschedulings/abc\n"
        "\n"
        "Time zone: America/New_York\n"
        "\n"
        "Join Zoom Meeting\n"
        "https://us02web.zoom.us/j/8812345678?pwd=c2VjcmV0\n"
        "\n"
        "Coaching preferences: direct feedback\n"
        "\n"
        "This event has a video call.\n"
        "Join: https://meet.google.com/abc-defg-hij\n"
    )
    answers = parse_answers(description, LABELS)
    assert answers["challenge"] == "Getting promoted to principal\nwhile keeping my team"
    assert answers["timezone"] == "America/New_York"
    assert answers["preferences"] == "direct feedback"


def test_answer_after_a_label_and_a_blank_line_is_still_read() -> None:
    description = (
        "What would you like to work on?\n"
        "\n"
        "Moving into leadership\n"
        "without losing the code\n"
        "\n"
        "Powered by Calendly.com\n"
        "Time zone:\n"
        "\n"
        "Europe/Paris\n"
    )
    answers = parse_answers(description, LABELS)
    assert answers["challenge"] == "Moving into leadership\nwithout losing the code"
    assert answers["timezone"] == "Europe/Paris"


def test_html_description_is_read_as_text() -> None:
    description = (
        "Background: Staff engineer<br>Company/Team: Acme &amp; Co<br><b>Challenge:</b> Getting promoted"
        "<br><br>Join Zoom Meeting<br>"
        '<a href="https://zoom.us/j/1?pwd=x">https://zoom.us/j/1?pwd=x</a>'
        "<p>Time zone: Asia/Tokyo</p><div>Coaching preferences:</div><ul><li>direct</li><li>weekly</li></ul>"
    )
    verdict = detect(event(attendees=(JANE,), description=description), rules())
    client = verdict.client
    assert client is not None
    assert (client.background, client.company, client.challenge) == (
        "Staff engineer",
        "Acme & Co",
        "Getting promoted",
    )
    assert (client.timezone, client.preferences) == ("Asia/Tokyo", "direct\nweekly")


def test_plain_text_with_angle_brackets_is_left_alone() -> None:
    text = "Challenge: grow my team from <5 to >20 people & ship faster\nBackground: <senior> a->b"
    assert description_text(text) == text


def test_client_zone_is_the_first_line_of_the_time_zone_answer() -> None:
    description = "Time zone: America/New_York\nJoin Zoom Meeting\nhttps://us02web.zoom.us/j/1?pwd=x\n"
    verdict = detect(event(attendees=(JANE,), description=description, timezone="Europe/Paris"), rules())
    assert verdict.client is not None and verdict.client.timezone == "America/New_York"


def test_an_event_of_another_coach_of_the_daemon_is_not_this_coachs_booking() -> None:
    sam = "sam@coach.example"
    theirs = event(attendees=(Attendee(sam, "Sam Coach", organizer=True), JANE), organizer=sam)
    mine = event(attendees=(ME, Attendee(sam, "Sam Coach"), JANE))
    assert detect(theirs, rules(other_coaches=frozenset({sam}))).client is None
    verdict = detect(mine, rules(other_coaches=frozenset({sam})))
    assert verdict.client is not None and verdict.client.email == "jane@client.example"  # Sam is no client
    assert detect(theirs, rules()).client is not None  # one coach alone still reads every event
