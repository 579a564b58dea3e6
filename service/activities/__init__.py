"""Activities, sign-ups, QR tokens, check-in and out, service hours."""
