"""What a sign is and is not: the rejection rule (sign, "?" or "none"), sign modes, composed numbers,
spelled text and the moving letters J and Z (pure per-frame logic), synthetic negatives."""
