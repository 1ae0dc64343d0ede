"""The bottom of the package: config, errors, safe inputs and outputs, terminal text, downloads, progress, plots."""
