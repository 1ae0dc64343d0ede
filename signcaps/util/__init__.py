"""The bottom of the package: config, errors, safe inputs and outputs, terminal text and streams, downloads, progress, timing, metrics, plots."""
