"""Typer command groups; each module registers the commands of one area on the app."""
