"""Score updates: idempotency keys, per-action policies, per-user action counters.

Revision ID: 0003_score_updates
Revises: 0002_accounts
Create Date: 2026-11-24
"""

from scoreboard.migrations import run_script

revision = "0003_score_updates"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        """
        -- Exactly-once awards: a replayed key can never award twice, even after Redis lost its state.
        ALTER TABLE score_history ADD COLUMN idempotency_key VARCHAR(255);
        CREATE UNIQUE INDEX idx_score_history_user_idempotency ON score_history(user_id, idempotency_key)
          WHERE idempotency_key IS NOT NULL;

        ALTER TABLE actions
          ADD COLUMN cooldown_seconds INTEGER CHECK (cooldown_seconds > 0),
          ADD COLUMN max_per_day INTEGER CHECK (max_per_day > 0),
          ADD COLUMN client_reportable BOOLEAN NOT NULL DEFAULT true;
        UPDATE actions SET max_per_day = 1 WHERE id = 'daily-login';
        UPDATE actions SET client_reportable = false WHERE id IN ('purchase-item', 'referral-signup');

        -- The state a policy needs, on one row per (user, action): the award statement upserts it with the
        -- policy as the ON CONFLICT condition, which PostgreSQL re-checks on the locked, latest row version,
        -- so two concurrent awards can never both pass a once-a-day rule.
        CREATE TABLE user_action_counters (
          user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          action_id VARCHAR(100) NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
          last_awarded_at TIMESTAMP WITH TIME ZONE NOT NULL,
          day DATE NOT NULL,
          day_count INTEGER NOT NULL CHECK (day_count > 0),
          PRIMARY KEY (user_id, action_id)
        );
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP TABLE IF EXISTS user_action_counters;
        ALTER TABLE actions
          DROP COLUMN IF EXISTS client_reportable,
          DROP COLUMN IF EXISTS max_per_day,
          DROP COLUMN IF EXISTS cooldown_seconds;
        DROP INDEX IF EXISTS idx_score_history_user_idempotency;
        ALTER TABLE score_history DROP COLUMN IF EXISTS idempotency_key;
        """
    )
