"""syncd: turns intro-session bookings into session notes, event links and follow-up drafts."""

__version__ = "0.1.0"
