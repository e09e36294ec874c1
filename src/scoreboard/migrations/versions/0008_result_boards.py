"""Result boards: a board kind that ranks a trusted server's submitted value (best or latest) instead of points.

Revision ID: 0008_result_boards
Revises: 0007_boards
Create Date: 2026-12-03
"""

from scoreboard.migrations import run_script

revision = "0008_result_boards"
down_revision = "0007_boards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every board so far adds up points; a result board keeps one submitted value per player and period. Values are
    # bounded to ±(2^53 - 1) because Redis ranks doubles: beyond that two different values could tie.
    # `rank_value` is the value as the board orders it (negated on `asc` boards), so one "higher ranks first" order,
    # one rank rule and one Redis layout serve both kinds.
    run_script(
        """
        ALTER TABLE boards
          ADD COLUMN kind varchar(8) NOT NULL DEFAULT 'points' CHECK (kind IN ('points', 'result')),
          ADD COLUMN sort varchar(4) NOT NULL DEFAULT 'desc' CHECK (sort IN ('desc', 'asc')),
          ADD COLUMN keep varchar(8) NOT NULL DEFAULT 'best' CHECK (keep IN ('best', 'latest')),
          ADD COLUMN min_value bigint CHECK (min_value BETWEEN -9007199254740991 AND 9007199254740991),
          ADD COLUMN max_value bigint CHECK (max_value BETWEEN -9007199254740991 AND 9007199254740991),
          ADD CONSTRAINT boards_value_bounds CHECK (min_value <= max_value),
          ADD CONSTRAINT boards_result_actions CHECK (kind = 'points' OR action_ids IS NULL);

        CREATE TABLE result_submissions (
          id bigserial PRIMARY KEY,
          board_id varchar(64) NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
          period varchar(16) NOT NULL,
          user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
          value bigint NOT NULL CHECK (value BETWEEN -9007199254740991 AND 9007199254740991),
          rank_value bigint NOT NULL,
          metadata jsonb,
          api_key_id uuid REFERENCES api_keys (id) ON DELETE SET NULL,
          idempotency_key varchar(255),
          ip_address inet,
          user_agent text,
          created_at timestamptz NOT NULL DEFAULT now(),
          removed_at timestamptz,
          removed_by uuid REFERENCES users (id) ON DELETE SET NULL,
          removal_reason text,
          CHECK ((removed_at IS NULL) = (removal_reason IS NULL))
        );
        CREATE UNIQUE INDEX idx_result_submissions_idempotency
          ON result_submissions (api_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX idx_result_submissions_standing
          ON result_submissions (board_id, period, user_id, rank_value DESC, created_at);
        CREATE INDEX idx_result_submissions_created ON result_submissions (created_at);

        CREATE TABLE result_standings (
          board_id varchar(64) NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
          period varchar(16) NOT NULL,
          user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
          value bigint NOT NULL,
          rank_value bigint NOT NULL,
          reached_at timestamptz NOT NULL,
          submission_id bigint NOT NULL REFERENCES result_submissions (id) ON DELETE CASCADE,
          PRIMARY KEY (board_id, period, user_id)
        );
        CREATE INDEX idx_result_standings_order ON result_standings (board_id, period, rank_value DESC, reached_at);

        -- Competition ranking ("1224") on a result board's period: 1 + players with a strictly better value.
        CREATE FUNCTION result_rank(board varchar, period_key varchar, rank_value bigint) RETURNS bigint
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$
          SELECT 1 + count(*) FROM result_standings s JOIN users u ON u.id = s.user_id AND u.is_active
          WHERE s.board_id = board AND s.period = period_key AND s.rank_value > result_rank.rank_value
        $$;
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP FUNCTION IF EXISTS result_rank(varchar, varchar, bigint);
        DROP TABLE IF EXISTS result_standings;
        DROP TABLE IF EXISTS result_submissions;
        DELETE FROM boards WHERE kind = 'result';
        ALTER TABLE boards
          DROP CONSTRAINT IF EXISTS boards_result_actions,
          DROP CONSTRAINT IF EXISTS boards_value_bounds,
          DROP COLUMN IF EXISTS max_value,
          DROP COLUMN IF EXISTS min_value,
          DROP COLUMN IF EXISTS keep,
          DROP COLUMN IF EXISTS sort,
          DROP COLUMN IF EXISTS kind;
        """
    )
