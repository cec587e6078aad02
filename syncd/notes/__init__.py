"""Session-note stores: where a booking's private note is created and kept."""
