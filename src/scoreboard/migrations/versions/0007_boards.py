"""Many boards: a catalog, each period's standings per player, and the period and rank rules in SQL.

Revision ID: 0007_boards
Revises: 0006_board_generation
Create Date: 2026-12-03
"""

from scoreboard.migrations import run_script

revision = "0007_boards"
down_revision = "0006_board_generation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The seed's board is the built-in `global` (all time, every action): its standings stay users.current_score.
    # A period key follows from an award's time in the board's zone, so a new period is simply a new key (no reset
    # job) and a finished one is the archive. Weeks are ISO weeks (Monday first); a season counts [starts, ends).
    run_script(
        """
        CREATE TABLE boards (
          id varchar(64) PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]*$'),
          name varchar(100) NOT NULL,
          description text,
          period varchar(16) NOT NULL CHECK (period IN ('all_time', 'daily', 'weekly', 'monthly', 'season')),
          time_zone varchar(64) NOT NULL DEFAULT 'UTC',
          starts_at timestamptz,
          ends_at timestamptz,
          action_ids varchar(50)[],
          is_active boolean NOT NULL DEFAULT true,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          CHECK ((period = 'season') = (starts_at IS NOT NULL AND ends_at IS NOT NULL)),
          CHECK (ends_at > starts_at)
        );
        INSERT INTO boards (id, name, description, period)
        VALUES ('global', 'All time', 'Every award since the beginning (the seed''s leaderboard).', 'all_time');

        CREATE FUNCTION board_period(kind text, zone text, starts timestamptz, ends timestamptz, at timestamptz)
        RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
        AS $$
          SELECT CASE kind
            WHEN 'all_time' THEN 'all'
            WHEN 'daily' THEN to_char(at AT TIME ZONE zone, 'YYYY-MM-DD')
            WHEN 'weekly' THEN to_char(at AT TIME ZONE zone, 'IYYY-"W"IW')
            WHEN 'monthly' THEN to_char(at AT TIME ZONE zone, 'YYYY-MM')
            WHEN 'season' THEN CASE WHEN at >= starts AND at < ends THEN 'season' END
          END
        $$;

        CREATE FUNCTION board_period_end(kind text, zone text, ends timestamptz, at timestamptz)
        RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
        AS $$
          SELECT CASE kind
            WHEN 'daily' THEN (date_trunc('day', at AT TIME ZONE zone) + interval '1 day') AT TIME ZONE zone
            WHEN 'weekly' THEN (date_trunc('week', at AT TIME ZONE zone) + interval '1 week') AT TIME ZONE zone
            WHEN 'monthly' THEN (date_trunc('month', at AT TIME ZONE zone) + interval '1 month') AT TIME ZONE zone
            WHEN 'season' THEN ends
          END
        $$;

        CREATE TABLE board_scores (
          board_id varchar(64) NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
          period varchar(16) NOT NULL,
          user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
          score integer NOT NULL CHECK (score >= 0),
          reached_at timestamptz NOT NULL,
          PRIMARY KEY (board_id, period, user_id)
        );
        CREATE INDEX idx_board_scores_order ON board_scores (board_id, period, score DESC, reached_at);
        CREATE INDEX idx_board_scores_reached ON board_scores (reached_at);

        -- Competition ranking ("1224") on one board's period, as leaderboard_rank is on the global board.
        CREATE FUNCTION board_rank(board varchar, period_key varchar, score integer) RETURNS bigint
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$
          SELECT 1 + count(*) FROM board_scores s JOIN users u ON u.id = s.user_id AND u.is_active
          WHERE s.board_id = board AND s.period = period_key AND s.score > board_rank.score
        $$;
        """
    )


def downgrade() -> None:
    run_script(
        """
        DROP FUNCTION IF EXISTS board_rank(varchar, varchar, integer);
        DROP TABLE IF EXISTS board_scores;
        DROP FUNCTION IF EXISTS board_period_end(text, text, timestamptz, timestamptz);
        DROP FUNCTION IF EXISTS board_period(text, text, timestamptz, timestamptz, timestamptz);
        DROP TABLE IF EXISTS boards;
        """
    )
