"""Embedded PostgreSQL and Valkey servers for the zero-configuration default."""

from scoreboard.embedded.supervisor import EmbeddedServers, EmbeddedUrls

__all__ = ["EmbeddedServers", "EmbeddedUrls"]
