"""The points ledger: accounts, transfers, holds, expiry, balances, verification."""
