"""The raw items a calendar last read from its API, kept for the writes that follow a read,
bounded for the whole process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

# How many raw items (of every Google and Outlook calendar in the process) `RawItems` keeps: a pass
# annotates a coach's events right after reading them, so a few thousand (~4 KiB each) serve
# every pass, while 500 coaches' full syncs (100 000 items) no longer stay in memory.
RAW_ITEMS = 2500


class RawItems:
    """The raw items last read, the most recent `limit` of them, by (calendar, event id).

    annotate() needs fields the model leaves out (reminders, private properties) and should
    not re-read an event it just listed; an item evicted, or of an older etag, is read again.
    """

    def __init__(self, limit: int = RAW_ITEMS) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[object, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, owner: object, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._items.get((owner, event_id))

    def put(self, owner: object, event_id: str, item: dict[str, Any]) -> None:
        with self._lock:
            self._items[(owner, event_id)] = item
            self._items.move_to_end((owner, event_id))
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def drop(self, owner: object, event_id: str) -> None:
        with self._lock:
            self._items.pop((owner, event_id), None)

    def forget(self, owner: object) -> None:
        """Drop every item of `owner` (a full read: events that are gone go with them)."""
        with self._lock:
            for key in [key for key in self._items if key[0] is owner]:
                del self._items[key]

    def __len__(self) -> int:
        return len(self._items)


SHARED = RawItems()  # the process's, for every calendar that has none of its own
