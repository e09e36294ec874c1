"""Scoreboard: a secure, live, auditable real-time leaderboard API."""

__version__ = "0.1.0"
