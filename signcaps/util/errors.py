"""The base of every error that is the user's to fix: the CLI prints it as one line, no traceback."""


class UserError(Exception):
    """Bad input, a missing file, a wrong model: say what happened and what to do."""

    exit_code = 1


class Interrupted(UserError):
    """The user stopped the work (Ctrl-C, SIGTERM): the message says what was kept; exit 130 like
    any interrupted command."""

    exit_code = 130
