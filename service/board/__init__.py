"""The public notice board (公示栏) and the monthly leaderboards: read-only, no login, names masked."""
