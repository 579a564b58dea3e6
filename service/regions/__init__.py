"""Regions: city > district > street > community, and the officials of each region."""
