"""Authentication: players and admins (JWT + refresh tokens), trusted servers (API keys)."""
