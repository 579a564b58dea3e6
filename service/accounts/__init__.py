"""Members, communities, partner organisations, roles, login and guards."""
