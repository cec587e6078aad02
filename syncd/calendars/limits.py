"""Bounds every calendar source keeps to, so one recurring series cannot flood a pass.

A booking calendar may hold a "recurrence bomb" (an open daily or hourly series): each instance
would become a note, an event write and a draft, and every other booking waits meanwhile.
"""

from __future__ import annotations

from datetime import timedelta

SERIES_INSTANCES = 50  # instances of one series taken per read; the earliest in the window
HORIZON = timedelta(days=60)  # how far ahead series are read: the config's `horizon` default
# How far `now + horizon` may move past the end an unchanged series was expanded to before it
# is read again: about once a day, not every pass.
REREAD_AFTER = timedelta(days=1)
