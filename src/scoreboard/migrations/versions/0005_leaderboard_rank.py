"""The board's rank rule as one SQL function, for every SQL path (and operators' own queries).

Revision ID: 0005_leaderboard_rank
Revises: 0004_users_updated_at_index
Create Date: 2026-12-03
"""

from scoreboard.migrations import run_script

revision = "0005_leaderboard_rank"
down_revision = "0004_users_updated_at_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Competition ranking ("1224"), as the board's Lua `rank_of` computes it: 1 + active users strictly higher.
    run_script(
        """
        CREATE FUNCTION leaderboard_rank(score integer) RETURNS bigint
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT 1 + count(*) FROM users WHERE is_active AND current_score > score $$;
        """
    )


def downgrade() -> None:
    run_script("DROP FUNCTION IF EXISTS leaderboard_rank(integer);")
