"""Points supermarket, partner offers, vouchers, settlement."""
