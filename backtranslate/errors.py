"""The one exception type a user sees as a sentence instead of a traceback."""


class UserError(Exception):
    """A problem with the request (missing model, bad seed file, bad config) that the user can fix.

    The CLI prints the message as one line and exits with status 2; the message must say what is
    wrong and what to do about it.
    """
