"""The leaderboard: Redis sorted set, ranks, live update messages."""
