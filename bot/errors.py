"""The Slack adapter's exception hierarchy."""


class BotError(Exception):
    """Base of every error the Slack adapter raises on purpose."""


class BotConfigError(BotError):
    """A Slack setting (token, secret, approvers…) is missing or malformed."""


class BadEvent(BotError):
    """A Lambda event that is not a well-formed Slack request; carries the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
