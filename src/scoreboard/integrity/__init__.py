"""Integrity checks: scores against history, orphans (the seed's queries 14 and 15), Redis against PostgreSQL."""
