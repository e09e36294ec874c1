"""Event logs, newest first with keyset paging: a player's score history and the rate-limit audit."""
