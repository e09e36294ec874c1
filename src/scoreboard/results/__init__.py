"""Result boards: a trusted server's results per player (best or latest), their audit and moderation."""
