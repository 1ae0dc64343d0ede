"""Hands in an image: the MediaPipe detector, the 21 landmarks, the ONE crop/resize/normalise path, hand masks
and scenes."""
