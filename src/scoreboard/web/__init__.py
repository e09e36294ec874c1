"""The live leaderboard page the service serves at `/` (static files shipped inside the package)."""
