"""The exception type for mistakes a user can make and fix, and the warning type for the rest."""


class W2VError(Exception):
    """A problem the user can act on. The CLI prints it as one line and exits non-zero."""


class Interrupted(W2VError):
    """Training stopped on a signal after writing a checkpoint."""


class W2VWarning(UserWarning):
    """Something the user should know that did not stop the command; the CLI prints one line."""
