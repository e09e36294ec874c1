"""The action catalog: what can be awarded, for how many points, under which policy."""
