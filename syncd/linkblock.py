"""The delimited block syncd keeps in an event's description.

The block is replaced as a whole on every write and stripped before syncd looks at what the
coach or the client wrote, so syncd's own edits are never mistaken for a change.

Outlook and Exchange show an event's HTML description (`X-ALT-DESC;FMTTYPE=text/html`)
instead of its DESCRIPTION, so where there is one it carries the same block as an HTML
fragment, with a real link: `apply_html_block` and `strip_html_block` are the exact inverse of
each other, so a second pass finds nothing to change and taking the block out restores the
HTML as it was.
"""

from __future__ import annotations

import html
import re

from syncd.model import Annotation

BEGIN = "--- syncd: session note (private to the coach) ---"
END = "--- end syncd ---"
_BLOCK = re.compile(r"\n*" + re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)
_HTML_OPEN = '<div class="syncd-note">'
_HTML_BLOCK = re.compile(
    re.escape(_HTML_OPEN) + r".*?" + re.escape(html.escape(END)) + r"</div>", re.DOTALL | re.IGNORECASE
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def render_block(annotation: Annotation) -> str:
    """The block's text for `annotation`, delimiters included."""
    lines = [BEGIN, f"Session note: {annotation.note_url}"]
    if annotation.status_line:
        lines.append(annotation.status_line)
    lines.append(END)
    return "\n".join(lines)


def strip_block(description: str) -> str:
    """`description` without syncd's block (and the blank lines syncd put before it)."""
    return _BLOCK.sub("", description.replace("\r\n", "\n")).rstrip("\n")


def apply_block(description: str, annotation: Annotation) -> str:
    """`description` with exactly one syncd block, at its end, carrying `annotation`."""
    base = strip_block(description)
    block = render_block(annotation)
    return f"{base}\n\n{block}" if base else block


def find_note_url(description: str) -> str:
    """The note URL in syncd's block, or "" when there is no block."""
    match = re.search(re.escape(BEGIN) + r"\nSession note: (\S+)", description.replace("\r\n", "\n"))
    return match.group(1) if match else ""


def render_html_block(annotation: Annotation) -> str:
    """The block as one HTML `<div>`: the same lines as `render_block`, the URL a link."""
    url = html.escape(annotation.note_url, quote=True)
    lines = [html.escape(BEGIN), f'Session note: <a href="{url}">{url}</a>']
    if annotation.status_line:
        lines.append(html.escape(annotation.status_line))
    lines.append(html.escape(END))
    return _HTML_OPEN + "<br>".join(lines) + "</div>"


def strip_html_block(markup: str) -> str:
    """`markup` without syncd's HTML block."""
    return _HTML_BLOCK.sub("", markup)


def apply_html_block(markup: str, annotation: Annotation) -> str:
    """`markup` with exactly one syncd HTML block, just before `</body>` (at the end when
    there is none)."""
    base = strip_html_block(markup)
    ends = list(_BODY_END.finditer(base))
    at = ends[-1].start() if ends else len(base)
    return base[:at] + render_html_block(annotation) + base[at:]
