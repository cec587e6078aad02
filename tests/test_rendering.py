"""Rendering notes and follow-ups: times in the right zones, talking points, template errors
reported in one line, and booking values that stay data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syncd.errors import ConfigError
from syncd.model import Client, Coach, Session
from syncd.rendering import (
    FOCUS_AREAS,
    FOLLOWUP_ITEM,
    START_DATE_ITEM,
    action_items,
    client_span,
    client_view,
    multi_line,
    next_steps,
    note_fields,
    talking_points,
)
from syncd.templating import Renderer, check_template_file
from syncd.timefmt import format_span

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin, 04:00 in New York
NOW = START - timedelta(days=1)
REPO = Path(__file__).resolve().parents[1]
BERLIN = ZoneInfo("Europe/Berlin")
DASH = "\u2013"  # the en dash between two times


def make_coach(specialties: tuple[str, ...] = ("Engineering leadership", "Career growth")) -> Coach:
    return Coach(
        "Sam Coach", "sam@coach.example", "Europe/Berlin", "https://coach.example/pricing", specialties
    )


def make_session(client: Client | None = None, coach: Coach | None = None) -> Session:
    client = client or Client(
        name="Ada Lovelace",
        email="ada@client.example",
        timezone="America/New_York",
        background="Senior engineer,\nnewly promoted",
        company="Analytical Engines Ltd",
        challenge="Leading a team of engineers for the first time",
        preferences="Direct feedback",
    )
    return Session("booking-1", coach or make_coach(), client, START, START + timedelta(minutes=30))


# --- times -------------------------------------------------------------------------------------


def test_session_time_is_shown_in_the_coachs_zone() -> None:
    note = Renderer().render_note(make_session(), NOW)
    assert f"Tue 1 Dec 2026, 10:00{DASH}10:30 CET" in note


def test_session_time_is_also_shown_in_the_clients_zone() -> None:
    note = Renderer().render_note(make_session(), NOW)
    assert f"Tue 1 Dec 2026, 04:00{DASH}04:30 EST (America/New_York)" in note


def test_note_never_shows_raw_utc() -> None:
    note = Renderer().render_note(make_session(), NOW)
    assert "09:00" not in note
    assert "UTC" not in note
    assert "+00:00" not in note


def test_client_zone_is_left_out_when_missing_unknown_or_the_same() -> None:
    for zone in ("", "Not/AZone", "../../etc/passwd", "Europe/Berlin", "Europe/Paris"):
        assert client_span(make_session(Client("Ada", timezone=zone))) == "", zone


def test_client_zone_written_as_a_booking_tool_writes_it_is_understood() -> None:
    calendly = make_session(Client("Ada", timezone="Eastern Time - US & Canada"))
    offset = make_session(Client("Ada", timezone="UTC+5:30"))
    assert client_span(calendly) == f"Tue 1 Dec 2026, 04:00{DASH}04:30 EST (America/New_York)"
    assert client_span(offset) == f"Tue 1 Dec 2026, 14:30{DASH}15:00 UTC+05:30"


def test_followup_names_the_session_day_as_the_client_lived_it() -> None:
    late = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # Tue 01:30 in Berlin, Mon 19:30 in New York
    session = Session(
        "b", make_coach(), Client("Ada", "ada@x.example", "Eastern Time"), late, late + timedelta(minutes=30)
    )
    no_zone = Session("b", make_coach(), Client("Ada", "ada@x.example"), late, late + timedelta(minutes=30))
    assert "our intro session on Mon 30 Nov." in Renderer().render_followup(session, [], "")[1]
    assert "our intro session on Tue 1 Dec." in Renderer().render_followup(no_zone, [], "")[1]


def test_span_across_midnight_shows_both_days() -> None:
    late = datetime(2026, 12, 1, 22, 45, tzinfo=UTC)
    span = format_span(late, late + timedelta(minutes=30), BERLIN)
    assert span == f"Tue 1 Dec 2026, 23:45 CET {DASH} Wed 2 Dec 2026, 00:15 CET"


def test_review_reminder_is_five_minutes_before_in_the_coachs_zone() -> None:
    note = Renderer().render_note(make_session(), NOW)
    assert "09:55 CET" in note
    assert "at least 5 minutes before" in note


def test_note_made_after_the_session_began_asks_for_what_was_said_not_a_review() -> None:
    note = Renderer().render_note(make_session(), START + timedelta(hours=2))
    assert "after the session began" in note
    assert "Review this agenda" not in note and "short notice" not in note


# --- talking points, focus areas, action items -------------------------------------------------


def test_talking_point_names_the_specialty_and_the_words_that_met() -> None:
    points = talking_points(make_coach(), make_session().client)
    assert len(points) == 1
    assert "Engineering leadership" in points[0]
    assert "leading" in points[0]
    assert "engineers" in points[0]
    assert "challenge" in points[0]


def test_without_overlap_each_specialty_is_offered_as_an_angle_on_the_challenge() -> None:
    client = Client("Bo", challenge="Negotiating a raise")
    points = talking_points(make_coach(("Public speaking", "Team rituals")), client)
    assert points == [
        "Explore how your “Public speaking” could help with “Negotiating a raise”",
        "Explore how your “Team rituals” could help with “Negotiating a raise”",
    ]


def test_common_words_do_not_count_as_overlap() -> None:
    client = Client("Bo", challenge="I want to get better at the things that matter")
    points = talking_points(make_coach(("Getting better at the basics",)), client)
    assert points[0].startswith("Explore how your")


def test_no_specialties_and_no_challenge_still_gives_a_talking_point() -> None:
    assert talking_points(make_coach(()), Client("Bo")) == [
        "Ask about their top-of-mind challenge and what they want from coaching"
    ]


def test_note_lists_the_six_focus_areas() -> None:
    note = Renderer().render_note(make_session(), NOW)
    titles = [title for title, _ in FOCUS_AREAS]
    assert titles == [
        "Building Rapport",
        "Assessing Client's Needs",
        "Clarifying Expectations",
        "Showcasing Value",
        "Establishing a Connection",
        "Decision Making",
    ]
    for title in titles:
        assert f"**{title}:**" in note


def test_action_items_are_due_after_the_session_in_the_coachs_zone() -> None:
    session = make_session()
    late = Session(
        "b",
        session.coach,
        session.client,
        datetime(2026, 12, 1, 22, 30, tzinfo=UTC),
        datetime(2026, 12, 1, 22, 50, tzinfo=UTC),
        followup_delay=timedelta(minutes=15),
    )
    assert action_items(late) == [
        {"text": FOLLOWUP_ITEM, "due": "2026-12-02"},  # 00:05 in Berlin
        {"text": START_DATE_ITEM, "due": "2026-12-08"},
    ]


def test_note_has_action_items_with_due_dates_and_the_after_session_checklist() -> None:
    note = Renderer().render_note(make_session(), NOW)
    section = note.split("## Action items\n", 1)[1].split("\n## ", 1)[0]
    assert f"- [ ] {FOLLOWUP_ITEM} (due 2026-12-01)" in section
    assert f"- [ ] {START_DATE_ITEM} (due 2026-12-08)" in section
    assert "## After the session" in note
    assert "https://coach.example/pricing" in note.split("## After the session", 1)[1]


def test_blank_booking_answers_say_not_given() -> None:
    note = Renderer().render_note(make_session(Client("Bo", email="bo@x.example")), NOW)
    assert note.count("_not given in the booking_") == 4


def test_multi_line_answers_keep_their_lines_inside_the_list_item() -> None:
    note = Renderer().render_note(make_session(), NOW)
    assert "- **Background:** Senior engineer,\n  newly promoted\n" in note


def test_note_fields_are_plain_strings_for_placeholder_backends() -> None:
    fields = note_fields(make_session())
    assert fields["client_name"] == "Ada Lovelace"
    assert fields["session_time"] == f"Tue 1 Dec 2026, 10:00{DASH}10:30 CET"
    assert all(isinstance(value, str) for value in fields.values())


# --- values are data ---------------------------------------------------------------------------


def test_template_syntax_in_booking_values_stays_literal() -> None:
    client = Client(
        name="{{ 7*7 }} {% raw %}",
        email="x@client.example",
        challenge="{{ ''.__class__.__mro__ }}\n{% for x in range(3) %}x{% endfor %}",
    )
    session = make_session(client)
    note = Renderer().render_note(session, NOW)
    assert "{{ 7*7 }} {% raw %}" in note
    assert "{{ ''.__class__.__mro__ }}" in note
    assert "{% for x in range(3) %}x{% endfor %}" in note
    assert "49" not in note
    subject, body = Renderer().render_followup(session, ["{{ 7*7 }}"], "")
    assert "- {{ 7*7 }}" in body
    assert "49" not in body + subject


def test_single_line_fields_lose_control_characters_and_are_cut() -> None:
    assert client_view(Client("Ada\r\nBcc: x\x00\x1b[31m"))["name"] == "Ada Bcc: x [31m"
    long = client_view(Client("x" * 10_000))["name"]
    assert len(long) == 200
    assert long.endswith("…")


def test_multi_line_fields_keep_lines_but_lose_control_characters() -> None:
    assert multi_line("one\r\ntwo\x07\rthree\u202e") == "one\ntwo\nthree"
    # The same characters as one_line drops, the bidi marks too; tabs stay.
    assert multi_line("\u200eleft\u200f\tright\u2028\u2066x\u2069") == "left\trightx"


def test_client_name_in_note_heading_is_one_line() -> None:
    note = Renderer().render_note(make_session(Client("Ada\n## Action items\n- [ ] pay me")), NOW)
    # One line, and its brackets escaped: no task box (client text is inert Markdown).
    assert note.splitlines()[0] == "# 💼 Intro: Ada ## Action items - \\[ \\] pay me — Tue 1 Dec 2026"


# --- follow-up ---------------------------------------------------------------------------------


def test_followup_has_subject_greeting_pricing_link_and_start_date_ask() -> None:
    subject, body = Renderer().render_followup(make_session(), [], "file:///note.md")
    assert subject == "💎 Looking forward to working with you"
    assert body.startswith("Hey Ada!\n")
    assert "https://coach.example/pricing" in body
    assert "preferred start date" in body
    assert body.rstrip().endswith("Sam Coach")
    assert "Next steps" not in body
    assert "file:///note.md" not in body


def test_followup_lists_open_action_items_as_next_steps() -> None:
    items = [
        f"{FOLLOWUP_ITEM} (due 2026-12-01)",
        f"{START_DATE_ITEM} (due 2026-12-08)",
        "Share the reading list",
    ]
    _, body = Renderer().render_followup(make_session(), items, "")
    steps = body.split("Next steps:\n", 1)[1].split("\n\n", 1)[0]
    assert steps == f"- {START_DATE_ITEM} (by Tue 8 Dec)\n- Share the reading list"


def test_next_steps_leave_out_the_item_about_this_email() -> None:
    assert next_steps([f"{FOLLOWUP_ITEM} (due 2026-12-01)"]) == []


def test_greeting_skips_a_title_and_falls_back_to_there() -> None:
    _, body = Renderer().render_followup(make_session(Client("Dr. Grace Hopper", "g@x.example")), [], "")
    assert body.startswith("Hey Grace!")
    _, body = Renderer().render_followup(make_session(Client("", "g@x.example")), [], "")
    assert body.startswith("Hey there!")


def test_greeting_uses_the_first_name_of_a_last_comma_first_name() -> None:
    for name in ("Sharma, Ravi", "Ravi Sharma, PhD", "Ravi, "):
        _, body = Renderer().render_followup(make_session(Client(name, "r@x.example")), [], "")
        assert body.startswith("Hey Ravi!"), (name, body.splitlines()[0])


# --- templates ---------------------------------------------------------------------------------


def test_default_templates_pass_the_check() -> None:
    check_template_file(REPO / "config" / "templates" / "note.md.j2")
    check_template_file(REPO / "config" / "templates" / "followup.txt.j2")


def test_syntax_error_is_one_line_with_the_line_number(tmp_path: Path) -> None:
    path = tmp_path / "note.md.j2"
    path.write_text("# {{ client.name }}\n\n{% for x in talking_points %}\n- {{ x }\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        check_template_file(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"template {path}, line 4: ")


def test_unknown_variable_is_caught_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "note.md.j2"
    path.write_text("# {{ client.name }}\n\n{{ client.nickname }}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"template {path}, line 3: ")) as caught:
        check_template_file(path)
    assert "nickname" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_variable_inside_a_branch_for_blank_answers_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "note.md.j2"
    path.write_text("{% if not client.background %}{{ missing }}{% endif %}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing"):
        check_template_file(path)


def test_sandbox_refuses_unsafe_attribute_access(tmp_path: Path) -> None:
    path = tmp_path / "evil.j2"
    path.write_text("{{ client.__class__.__mro__[1].__subclasses__() }}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1"):
        check_template_file(path)


def test_missing_template_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        check_template_file(tmp_path / "nope.j2")


def test_coach_template_is_used_and_errors_become_config_errors(tmp_path: Path) -> None:
    note = tmp_path / "note.j2"
    note.write_text("Hello {{ client.first_name }}\n", encoding="utf-8")
    assert Renderer(note_template=note).render_note(make_session(), NOW) == "Hello Ada\n"
    broken = tmp_path / "broken.j2"
    broken.write_text("{% if %}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1"):
        Renderer(note_template=broken)


def test_followup_template_must_start_with_a_subject_line(tmp_path: Path) -> None:
    path = tmp_path / "followup.j2"
    path.write_text("Hello {{ client.first_name }}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Subject"):
        Renderer(followup_template=path).render_followup(make_session(), [], "")


def test_followup_subject_from_a_template_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "followup.j2"
    path.write_text("Subject: Hi {{ client.name }}\n\nBody\n", encoding="utf-8")
    session = make_session(Client("Eve\r\nBcc: x@evil.example", "eve@x.example"))
    subject, body = Renderer(followup_template=path).render_followup(session, [], "")
    assert subject == "Hi Eve Bcc: x@evil.example"
    assert body == "Body\n"
