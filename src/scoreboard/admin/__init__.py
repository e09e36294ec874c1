"""Admin-only management of users."""
