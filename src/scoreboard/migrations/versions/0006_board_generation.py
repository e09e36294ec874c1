"""The board generation Redis checks it mirrors, and the seed's autovacuum tuning for score_history.

Revision ID: 0006_board_generation
Revises: 0005_leaderboard_rank
Create Date: 2026-12-03
"""

from scoreboard.migrations import run_script

revision = "0006_board_generation"
down_revision = "0005_leaderboard_rank"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row. A new database, a reset (downgrade and upgrade) and a restore through `scoreboard restore` each end
    # with a new generation; Redis records the one it was built from and rebuilds when they differ.
    run_script(
        """
        CREATE TABLE board_generation (
          singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
          generation uuid NOT NULL DEFAULT gen_random_uuid(),
          changed_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO board_generation DEFAULT VALUES;
        ALTER TABLE score_history SET (autovacuum_vacuum_scale_factor = 0.01);
        """
    )


def downgrade() -> None:
    run_script(
        """
        ALTER TABLE score_history RESET (autovacuum_vacuum_scale_factor);
        DROP TABLE IF EXISTS board_generation;
        """
    )
