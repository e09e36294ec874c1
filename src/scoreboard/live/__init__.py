"""Live board: one Redis subscription per process, fanned out to SSE and WebSocket clients."""
