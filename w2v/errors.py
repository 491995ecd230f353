"""The one exception type for mistakes a user can make and fix."""


class W2VError(Exception):
    """A problem the user can act on. The CLI prints it as one line and exits non-zero."""


class Interrupted(W2VError):
    """Training stopped on a signal after writing a checkpoint."""
