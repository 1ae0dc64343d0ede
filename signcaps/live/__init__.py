"""The real-time loop: sources, per-frame recognition, reuse, overlay, window, writers, collect, its benchmark."""
