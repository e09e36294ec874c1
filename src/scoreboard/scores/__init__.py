"""Score updates: the secure, exactly-once, race-free write path."""
