"""Datasets on disk, torch-free: folder scans, the dataset registry, hand-crop caches, participant-aware splits."""
