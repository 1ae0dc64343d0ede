"""Hands in an image: the MediaPipe detector, the 21 landmarks, THE crop/resize/normalise path, masks, scenes."""
