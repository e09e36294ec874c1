"""Shared infrastructure: errors, logging."""
