"""Making untrusted text safe to put on one line (log lines, headers, titles)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, limit: int = 200) -> str:
    """`text` with control characters and line breaks turned into single spaces, cut to
    `limit` characters (with an ellipsis) so a hostile value cannot forge lines or flood."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
