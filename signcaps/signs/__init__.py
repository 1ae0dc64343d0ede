"""What a sign is and is not: the rejection rule (sign, "?" or "none"), numbers composed from digits, synthetic
negative poses."""
