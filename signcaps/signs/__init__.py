"""What a sign is and is not: the rejection rule (sign, "?" or "none"), composed numbers, synthetic negatives."""
