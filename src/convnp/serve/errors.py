"""RequestError: a bad request, answered with its HTTP status and a one-line message."""


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx) and a one-line ``message`` for the client."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())    # one line, whatever the cause said
