"""The base of every error that is the user's to fix: the CLI prints it as one line, no traceback."""


class UserError(Exception):
    """Bad input, a missing file, a wrong model: say what happened and what to do."""
