"""The real-time loop: frame sources, per-frame recognition, answer reuse, overlay, window, writers, collect, its
benchmark."""
