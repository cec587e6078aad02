"""The coach's note and follow-up templates: read, compiled in a Jinja2 sandbox and rendered.

Templates use `trim_blocks` and `lstrip_blocks`, so a `{% ... %}` tag on its own line leaves no
blank line behind. A template's problem is a `ConfigError` (or, from the checks the config
runs, a `ValueError`) naming the file and line. What a template sees is `syncd.rendering`'s:
in the note's context the client's values are already inert Markdown (`inert_markdown`), in the
follow-up's (plain text) they are plain.
This module must not import `syncd.config` (config imports it).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from syncd.errors import ConfigError
from syncd.model import Client, Coach, Session
from syncd.rendering import START_DATE_ITEM, followup_context, note_context, note_fields
from syncd.text import one_line

NOTE_TEMPLATE = "note.md.j2"
FOLLOWUP_TEMPLATE = "followup.txt.j2"


def default_template_dir() -> Traversable:
    """Where the default templates are: inside the installed package, else the repo's
    `config/templates` (editable install)."""
    packaged = resources.files("syncd") / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "config" / "templates"


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _compile(source: str, filename: str) -> jinja2.Template:
    env = _environment()
    try:
        code = env.compile(source, name=filename, filename=filename)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template {filename}, line {exc.lineno}: {one_line(exc.message or '')}") from None
    return env.template_class.from_code(env, code, env.make_globals(None))


def _render(template: jinja2.Template, context: dict[str, Any]) -> str:
    filename = template.filename or "<template>"
    try:
        return template.render(context)
    except Exception as exc:  # the coach's template failed; say where, in one line
        line = _template_line(exc, filename)
        where = f"template {filename}, line {line}" if line else f"template {filename}"
        problem = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{where}: {one_line(problem)}") from exc


def _template_line(exc: BaseException, filename: str) -> int | None:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == filename:
            return frame.lineno
    return None


def _load(source: Traversable) -> jinja2.Template:
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"template {source}: cannot read: {exc}") from None
    return _compile(text, str(source))


def check_template_file(path: Path) -> None:
    """Check that the template at `path` compiles and renders against sample bookings.

    Raises ValueError("template PATH, line N: problem"), one line, for a syntax error, an
    unknown variable or anything else that fails while rendering.
    """
    _check_renders(path, lambda text: None)


def check_followup_template_file(path: Path) -> None:
    """`check_template_file` for a follow-up template, which must also render a first line
    `Subject: ...` (with a subject) for every sample booking.

    Raises ValueError("template PATH, line 1: the first line must be 'Subject: ...'"), or
    the one-line errors of `check_template_file`.
    """
    _check_renders(path, lambda text: split_followup(text, str(path)))


def _check_renders(path: Path, check_output: Callable[[str], object]) -> None:
    """Render the template at `path` against every sample booking and pass each output to
    `check_output`; any ConfigError becomes the ValueError the config validator reports."""
    try:
        template = _load(path)
        for context in _sample_contexts():
            check_output(_render(template, context))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def split_followup(text: str, filename: str) -> tuple[str, str]:
    """(subject, body) of a rendered follow-up, whose first line is `Subject: ...`; raises
    ConfigError naming `filename` if it is not (or the subject is empty)."""
    first, _, rest = text.partition("\n")
    subject = one_line(first[len("subject:") :]) if first.lower().startswith("subject:") else ""
    if not subject:
        raise ConfigError(f"template {filename}, line 1: the first line must be 'Subject: ...'")
    return subject, rest.lstrip("\n").rstrip() + "\n"


def _sample_contexts() -> list[dict[str, Any]]:
    """Two sample bookings, one with every answer and one with none, so that both sides of a
    template's `{% if %}` are rendered once."""
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    end = start + timedelta(minutes=30)
    url = "https://example.com/pricing"
    coach = Coach("Sam Coach", "sam@example.com", "Europe/Berlin", url, ("Leadership",))
    client = Client(
        "Ada Lovelace", "ada@example.com", "America/New_York", "Engineer", "Acme", "Lead", "Direct"
    )
    full = Session("sample-1", coach, client, start, end)
    bare = Session("sample-2", Coach("Sam", "sam@example.com", "UTC", url), Client("Bo"), start, end)
    now = start - timedelta(days=1)
    items = [f"{START_DATE_ITEM} (due 2026-12-08)"]
    return [
        note_context(full, now) | followup_context(full, items, "file:///note.md"),
        note_context(bare, now) | followup_context(bare, [], ""),
    ]


class Renderer:
    """Renders notes and follow-ups from the coach's templates (or the defaults).

    Templates are read and compiled once, here; raises ConfigError naming the file and line.
    """

    def __init__(self, note_template: Path | None = None, followup_template: Path | None = None) -> None:
        self._note = _load(note_template or default_template_dir() / NOTE_TEMPLATE)
        self._followup = _load(followup_template or default_template_dir() / FOLLOWUP_TEMPLATE)

    def render_note(self, session: Session, now: datetime) -> str:
        """The note body for `session`. Raises ConfigError if the template fails."""
        return _render(self._note, note_context(session, now))

    def note_fields(self, session: Session) -> dict[str, str]:
        """The note's values as plain strings, for `NoteRequest.fields`."""
        return note_fields(session)

    def render_followup(self, session: Session, action_items: list[str], note_url: str) -> tuple[str, str]:
        """(subject, body) of the follow-up email. The template's first line is `Subject: ...`;
        raises ConfigError if it is not, or if the template fails."""
        text = _render(self._followup, followup_context(session, action_items, note_url))
        return split_followup(text, self._followup.filename or "<template>")
