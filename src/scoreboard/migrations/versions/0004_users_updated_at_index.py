"""Index users by (updated_at, id) for the leaderboard reconciler's watermark scans.

Revision ID: 0004_users_updated_at_index
Revises: 0003_score_updates
Create Date: 2026-11-25
"""

from scoreboard.migrations import run_script

revision = "0004_users_updated_at_index"
down_revision = "0003_score_updates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script("CREATE INDEX idx_users_updated_at ON users(updated_at, id);")


def downgrade() -> None:
    run_script("DROP INDEX IF EXISTS idx_users_updated_at;")
