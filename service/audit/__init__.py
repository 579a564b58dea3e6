"""The audit log: an append-only record of every staff act that moves points or changes people."""
