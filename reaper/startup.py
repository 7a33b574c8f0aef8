"""What an entry point does before its first use case: read a secret, check its ground, say a failure in one line.

Shared by `python -m reaper`, `python -m bot` and the Lambda handler, so that each start
fails the same way: one line that names the cause (README: "errors … are one line on
stderr"), never a traceback for something the user can fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.parsers import ResponseParserError

from reaper.aws import secrets
from reaper.aws.clients import error_text
from reaper.settings import LAMBDA_TIMEOUTS, Timeouts

if TYPE_CHECKING:
    from reaper.bootstrap import Services

# pynamodb and the gateways are imported where they are used: the Lambda reads its Slack
# secret through this module in the init phase, and a cold start should not pay for them.

NO_CREDENTIALS = "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"


def read_secret(name: str, region: str, *, timeouts: Timeouts = LAMBDA_TIMEOUTS, client: Any = None) -> dict[str, Any]:
    """A JSON-object secret (an SSM parameter if `name` starts with "/"); SecretUnreadable says why not."""
    return secrets.read_json(name, region, timeouts=timeouts, client=client)


def check_ground(services: Services) -> None:
    """The table and bucket exist (else StoreNotReady: "run `python -m reaper init`"), for a long-running process."""
    services.store.check_table()
    services.audit.check_bucket()


def failure_text(error: BaseException, timeouts: Timeouts | None = None) -> str | None:
    """One line for a failure to reach or use AWS, for an entry point to print; None for anything else.

    Anything else is a bug and keeps its traceback. ResponseParserError (an answer that is not
    AWS's, such as a proxy's HTML error page) is not a BotoCoreError, so it is named here.
    """
    from pynamodb.exceptions import PynamoDBException

    if isinstance(error, PynamoDBException):
        cause = error.cause
        if isinstance(cause, NoCredentialsError):
            return NO_CREDENTIALS
        return f"DynamoDB: {error_text(cause if isinstance(cause, Exception) else error, timeouts)}"
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, ClientError | BotoCoreError | ResponseParserError):
        return f"AWS: {error_text(error, timeouts)}"
    return None
