"""The `scoreboard` command line."""
