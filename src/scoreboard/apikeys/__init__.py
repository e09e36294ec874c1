"""API keys for trusted game servers."""
