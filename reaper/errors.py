"""The reaper's exception hierarchy: every error the core raises or expects is a ReaperError.

Gateways translate what their libraries raise (botocore, pynamodb) into these, so the use
cases handle AWS failures without knowing which library talks to AWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reaper.model import Decision


class ReaperError(Exception):
    """Base of every error the core raises on purpose."""


class SettingsError(ReaperError):
    """A configuration variable is missing or malformed."""


class AwsError(ReaperError):
    """AWS (or the emulator at AWS_ENDPOINT_URL) answered with an error or did not answer.

    `code` is AWS's error code when it gave one (e.g. "RequestLimitExceeded"); the message
    is one line, fit to show to a person.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class AwsUnavailable(AwsError):
    """No region of a scan could be read: nothing to report."""


class StopUnconfirmed(AwsError):
    """StopInstances was sent but no answer came back: the instance may or may not be stopping."""


class HibernationRefused(AwsError):
    """StopInstances with Hibernate=True was refused for the hibernation itself (not configured or
    not ready yet): a plain stop may still work. Nothing was stopped."""


class MetricsIncomplete(AwsError):
    """CloudWatch answered, but not with complete data: judging on it could call a busy instance idle."""


class StoreNotReady(ReaperError):
    """The DynamoDB table or S3 bucket does not exist yet: run `python -m reaper init`."""


class DecisionNotFound(ReaperError):
    """No decision record has that id (unknown, tampered or long expired)."""


class AlreadyDecided(ReaperError):
    """A conditional transition lost: the record is no longer in the state it needs."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.state.value)
        self.decision = decision


class InstanceNotFound(ReaperError):
    """The instance does not exist in any scanned region."""


class SecretUnreadable(ReaperError):
    """A secret could not be read or is not what it should be; the message says which fix it needs."""
