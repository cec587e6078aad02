"""The rolling window an API calendar reads (look-back .. now + horizon), and the cursor that
keeps, beside the API's own token, the end of the window the token's full read covered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

# How far the window's end may lag now + horizon before a full read takes the new window: a
# day keeps that to one full read a day, and instances that near are read well before they start.
WINDOW_SLACK = timedelta(days=1)


def window_cursor(key: str, token: str, until: datetime) -> str:
    """The cursor for the API's `token` (under `key`) and the end of its window."""
    end = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({key: token, "until": end}, separators=(",", ":"))


def read_window_cursor(cursor: str, key: str) -> tuple[str, datetime]:
    """(token, window end) of a cursor made by `window_cursor` with `key`; ValueError for one
    it cannot read."""
    data = json.loads(cursor)
    if not isinstance(data, dict) or not isinstance(data.get(key), str) or not data[key]:
        raise ValueError(f"no {'sync token' if key == 'sync' else 'deltaLink'} in it")
    until = datetime.fromisoformat(str(data.get("until")).replace("Z", "+00:00"))
    if until.tzinfo is None:
        raise ValueError("the window end has no offset")
    return data[key], until.astimezone(UTC)
