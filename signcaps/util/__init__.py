"""The bottom of the package: config, errors, safe inputs and outputs, downloads, progress, timing, metrics, plots."""
