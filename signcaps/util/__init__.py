"""Shared utilities at the bottom of the package: configuration, errors, safe inputs and outputs, files and
downloads, progress, timing, metrics and plots."""
