"""Allow `python -m scoreboard`."""

from scoreboard.cli.main import app

app(prog_name="scoreboard")
