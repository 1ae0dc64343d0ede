"""Datasets on disk, torch-free: folder scans, the public dataset registry, hand-crop caches, participant-aware
splits."""
