"""A user's own account and public profiles."""
