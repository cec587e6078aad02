"""Draft sinks: where follow-up emails wait for the coach to review and send."""
