"""Accounts: roles, case-insensitive unique names, sessions with rotating refresh tokens, API keys.

Revision ID: 0002_accounts
Revises: 0001_seed_schema
Create Date: 2026-11-24
"""

from scoreboard.migrations import run_script

revision = "0002_accounts"
down_revision = "0001_seed_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        ALTER TABLE users
          ADD COLUMN role VARCHAR(20) NOT NULL DEFAULT 'player',
          ADD CONSTRAINT valid_role CHECK (role IN ('player', 'admin'));
        -- The seed's UNIQUE constraints stay; these make "Alice" and "alice" one name.
        CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
        CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

        -- One row per login: a refresh-token family. Revoking it kills its refresh and access tokens.
        CREATE TABLE auth_sessions (
          id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
          user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
          expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
          revoked_at TIMESTAMP WITH TIME ZONE,
          revoked_reason VARCHAR(50),
          ip_address INET,
          user_agent TEXT
        );
        CREATE INDEX idx_auth_sessions_user_live ON auth_sessions(user_id) WHERE revoked_at IS NULL;

        -- Opaque refresh tokens, stored as SHA-256 digests; each is single use.
        CREATE TABLE refresh_tokens (
          token_hash BYTEA PRIMARY KEY,
          session_id UUID NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
          created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
          used_at TIMESTAMP WITH TIME ZONE
        );
        CREATE INDEX idx_refresh_tokens_session ON refresh_tokens(session_id);

        -- Keys for trusted game servers, stored as SHA-256 digests and shown once.
        CREATE TABLE api_keys (
          id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
          name VARCHAR(100) NOT NULL,
          prefix VARCHAR(16) NOT NULL,
          key_hash BYTEA NOT NULL UNIQUE,
          scopes TEXT[] NOT NULL,
          created_by UUID REFERENCES users(id) ON DELETE SET NULL,
          created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
          last_used_at TIMESTAMP WITH TIME ZONE,
          revoked_at TIMESTAMP WITH TIME ZONE
        );
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP TABLE IF EXISTS api_keys;
        DROP TABLE IF EXISTS refresh_tokens;
        DROP TABLE IF EXISTS auth_sessions;
        DROP INDEX IF EXISTS users_email_lower_key;
        DROP INDEX IF EXISTS users_username_lower_key;
        ALTER TABLE users DROP CONSTRAINT IF EXISTS valid_role, DROP COLUMN IF EXISTS role;
        """
    )
