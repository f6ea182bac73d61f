"""Statistics for everyone: what the survey's data say about the territory, read-only."""
