"""The seed schema: the data design's "Appendix: Full Schema Export", verbatim.

Revision ID: 0001_seed_schema
Revises:
Create Date: 2026-11-24
"""

from scoreboard.migrations import run_script

revision = "0001_seed_schema"
down_revision = None
branch_labels = None
depends_on = None

# Kept byte-for-byte as the seed prints it (tests/test_migrations.py compares the resulting catalog
# with the seed's own SQL): operators run the seed's queries against this schema unchanged.
SEED_SCHEMA = r"""
-- ============================================================================
-- REAL-TIME SCOREBOARD API - COMPLETE SCHEMA
-- ============================================================================


-- ============================================================================
-- USERS TABLE
-- ============================================================================

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  username VARCHAR(255) NOT NULL UNIQUE,
  email VARCHAR(255) NOT NULL UNIQUE,
  password_hash VARCHAR(255) NOT NULL,
  current_score INTEGER NOT NULL DEFAULT 0 CHECK (current_score >= 0),
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_activity_at TIMESTAMP WITH TIME ZONE,
  is_active BOOLEAN NOT NULL DEFAULT true,
  metadata JSONB DEFAULT '{}',
  CONSTRAINT valid_email CHECK (email ~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}$')
);

CREATE OR REPLACE FUNCTION update_users_updated_at()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = CURRENT_TIMESTAMP;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_updated_at_trigger
BEFORE UPDATE ON users
FOR EACH ROW
EXECUTE FUNCTION update_users_updated_at();

CREATE INDEX idx_users_username ON users(username);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_is_active ON users(is_active);
CREATE INDEX idx_users_current_score ON users(current_score DESC);

-- ============================================================================
-- ACTIONS TABLE
-- ============================================================================

CREATE TABLE actions (
  id VARCHAR(100) PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  description TEXT,
  points INTEGER NOT NULL CHECK (points > 0),
  is_active BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT valid_points_value CHECK (points > 0)
);

CREATE OR REPLACE FUNCTION update_actions_updated_at()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = CURRENT_TIMESTAMP;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER actions_updated_at_trigger
BEFORE UPDATE ON actions
FOR EACH ROW
EXECUTE FUNCTION update_actions_updated_at();

CREATE INDEX idx_actions_is_active ON actions(is_active);

-- ============================================================================
-- SCORE HISTORY TABLE
-- ============================================================================

CREATE TABLE score_history (
  id BIGSERIAL PRIMARY KEY,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  action_id VARCHAR(100) NOT NULL REFERENCES actions(id) ON DELETE RESTRICT,
  points_awarded INTEGER NOT NULL,
  reason VARCHAR(500),
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  ip_address INET,
  user_agent TEXT,
  balance_before INTEGER NOT NULL,
  balance_after INTEGER NOT NULL,
  CONSTRAINT valid_points CHECK (points_awarded > 0),
  CONSTRAINT valid_balances CHECK (balance_before >= 0 AND balance_after >= 0)
);

CREATE INDEX idx_score_history_user_id ON score_history(user_id);
CREATE INDEX idx_score_history_created_at ON score_history(created_at DESC);
CREATE INDEX idx_score_history_action_id ON score_history(action_id);
CREATE INDEX idx_score_history_user_created ON score_history(user_id, created_at DESC);

-- ============================================================================
-- RATE LIMIT AUDIT TABLE
-- ============================================================================

CREATE TABLE rate_limit_audit (
  id BIGSERIAL PRIMARY KEY,
  user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  endpoint VARCHAR(255) NOT NULL,
  attempt_count INTEGER NOT NULL,
  limit_exceeded BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  ip_address INET,
  CONSTRAINT valid_attempts CHECK (attempt_count > 0)
);

CREATE INDEX idx_rate_limit_audit_user_id ON rate_limit_audit(user_id);
CREATE INDEX idx_rate_limit_audit_created_at ON rate_limit_audit(created_at DESC);

-- ============================================================================
-- INITIAL DATA
-- ============================================================================

INSERT INTO actions (id, name, description, points) VALUES
  ('complete-quest', 'Complete Quest', 'User completed a quest', 10),
  ('daily-login', 'Daily Login', 'User logs in once per day', 5),
  ('achievement-unlock', 'Achievement Unlock', 'User unlocks an achievement', 25),
  ('referral-signup', 'Referral Sign-up', 'User refers a new player', 50),
  ('purchase-item', 'Purchase Item', 'User purchases an in-game item', 100);

-- ============================================================================
-- VIEWS
-- ============================================================================

CREATE VIEW user_rankings AS
SELECT
  u.id,
  u.username,
  u.current_score,
  ROW_NUMBER() OVER (ORDER BY u.current_score DESC) AS rank,
  COUNT(*) OVER () AS total_users
FROM users u
WHERE u.is_active = true;

CREATE VIEW top_10_leaderboard AS
SELECT
  u.id,
  u.username,
  u.current_score,
  ROW_NUMBER() OVER (ORDER BY u.current_score DESC) AS rank
FROM users u
WHERE u.is_active = true
ORDER BY u.current_score DESC
LIMIT 10;
"""


def upgrade() -> None:
    run_script(SEED_SCHEMA)


def downgrade() -> None:
    run_script(
        """
        DROP VIEW IF EXISTS top_10_leaderboard;
        DROP VIEW IF EXISTS user_rankings;
        DROP TABLE IF EXISTS rate_limit_audit;
        DROP TABLE IF EXISTS score_history;
        DROP TABLE IF EXISTS actions;
        DROP TABLE IF EXISTS users;
        DROP FUNCTION IF EXISTS update_actions_updated_at();
        DROP FUNCTION IF EXISTS update_users_updated_at();
        """
    )
