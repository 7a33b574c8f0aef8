"""The reaper's exception hierarchy: every error the core raises on purpose is a ReaperError."""


class ReaperError(Exception):
    """Base of every error the core raises on purpose."""


class SettingsError(ReaperError):
    """A configuration variable is missing or malformed."""


class AwsUnavailable(ReaperError):
    """AWS (or the emulator at AWS_ENDPOINT_URL) could not be reached or refused our credentials."""


class DecisionNotFound(ReaperError):
    """No decision record has that id (unknown, tampered or long expired)."""


class StoreNotReady(ReaperError):
    """The DynamoDB table or S3 bucket does not exist yet: run `python -m reaper init`."""


class MetricsIncomplete(ReaperError):
    """CloudWatch answered, but not with complete data: judging on it could call a busy instance idle."""


class InstanceNotFound(ReaperError):
    """The instance does not exist in any scanned region."""


class SecretUnreadable(ReaperError):
    """A secret could not be read or is not what it should be; the message says which fix it needs."""
