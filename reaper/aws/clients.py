"""boto3 clients built one way (endpoint from Settings, explicit retry mode, one session); their errors translated."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError
from botocore.utils import parse_timestamp

from reaper.errors import AwsError, StopUnconfirmed
from reaper.settings import LAMBDA_TIMEOUTS, LOOKUPS_IN_FLIGHT, Settings, Timeouts

# Connections one client keeps open. A scan's look-ups share one pool of LOOKUPS_IN_FLIGHT
# threads across regions, so one region's client may carry all of them, plus the thread
# reading describe pages and the one reading a metric chunk: none of them ever waits for a
# connection. 16 at least, for the Socket Mode bot's concurrent clicks (slack_bolt's
# SocketModeHandler runs 10 listeners at once).
POOL_CONNECTIONS = max(LOOKUPS_IN_FLIGHT + 2, 16)

# EC2 is the one service whose calls a scan fires in bursts: a stop-protection look-up per
# idle candidate, hundreds at 10 000 instances, against EC2's token bucket per API and
# region (non-mutating actions: 100 requests of burst, refilled at 20 a second;
# https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html). Adaptive mode
# retries like standard mode and, once EC2 has throttled a client, also paces that client's
# requests (botocore's CUBIC: the rate it measured, cut by 30 %, then growing back), so the
# look-ups in flight back off together instead of each retrying into the same empty bucket.
# The price: calls right after a throttle wait their turn, from as low as 0.5 a second if
# the throttle came before the client had measured a rate. The other services keep standard
# mode: their calls are few (GetMetricData chunks, a DynamoDB write or an S3 object per
# event), they rarely throttle, and a paced client would hold a Slack click's writes behind
# a rate learnt from one throttle.
ADAPTIVE_SERVICES = frozenset({"ec2"})


def aws_config(timeouts: Timeouts = LAMBDA_TIMEOUTS, service: str | None = None) -> Config:
    """Every client's configuration; the timeouts are the entry point's (Settings.timeouts).

    `service` chooses the retry mode: adaptive for EC2's look-ups, standard for the rest.
    """
    # botocore's default retry mode differs between versions ("legacy" before 1.36); set it.
    mode: Literal["adaptive", "standard"] = "adaptive" if service in ADAPTIVE_SERVICES else "standard"
    return Config(
        retries={"mode": mode, "total_max_attempts": timeouts.attempts},
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        max_pool_connections=POOL_CONNECTIONS,
    )


NO_CREDENTIALS = "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"


class Clients:
    """boto3 clients built one way and cached per (service, region): boto3 clients are thread-safe,
    sessions are not, so one session creates them all under a lock."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.timeouts = settings.timeouts
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._cache: dict[tuple[str, str], Any] = {}

    def lazy(self, service: str, region: str) -> Any:
        """A stand-in that builds the client on first use: an EC2 client costs about half a second,
        so a path that never calls AWS (a Slack ack) never pays for it."""
        return _LazyClient(lambda: self.client(service, region))

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._cache:
                if self._session is None:
                    self._session = new_session()
                # An explicit endpoint_url makes botocore ignore AWS_ENDPOINT_URL_<SERVICE>, so the
                # service's own variable (read into Settings) is chosen here, as botocore would.
                service_id = self._session._session.get_service_model(service).service_id
                self._cache[key] = self._session.client(
                    service,  # type: ignore[call-overload]
                    region_name=region,
                    endpoint_url=self._settings.endpoint_for(service_id),
                    config=aws_config(self.timeouts, service),
                )
            return self._cache[key]


class _LazyClient:
    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()  # Clients.client is idempotent and locked
        return getattr(self._client, name)


def new_session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=utc_timestamp)
    return boto3.session.Session(botocore_session=core)


def utc_timestamp(value: str | float) -> datetime:
    """Parse an AWS timestamp to an aware UTC datetime, cheaply.

    botocore's default parser builds a new dateutil ``tzlocal()`` for every timestamp and
    parses ISO strings with dateutil: a scan of 10 000 instances reads 420 000 metric
    timestamps, and those zone objects were ~23 MB of its peak memory. AWS sends epoch
    numbers (CBOR, JSON) or ISO 8601 with a zone; anything else goes to botocore's parser.
    """
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(value) if "-" in value else None
    except ValueError:
        parsed = None
    if parsed is None:
        parsed = parse_timestamp(value)  # epoch strings, RFC 822 (S3 headers), the unusual
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def error_text(error: Exception) -> str:
    """One line for an AWS error: the error code and message, without the traceback.

    Some botocore messages span lines (ResponseParserError quotes the whole body it could not
    parse): only the first line is kept. A timeout says that nothing answered.
    """
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        text = f"{err.get('Code', 'Error')}: {err.get('Message', '')}".strip(" :")
    else:
        text = str(error).strip()
    text = (text.splitlines() or [type(error).__name__])[0].rstrip(":")
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        text += " (nothing answered)"
    return text


def error_code(error: Exception) -> str | None:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) or None
    return None


@contextmanager
def translated(operation: str, *, unconfirmed: bool = False) -> Iterator[None]:
    """botocore's errors as the core's AwsError: one line, AWS's error code kept.

    With `unconfirmed`, a request that got no answer (timeout, reset connection, on any of
    its attempts) raises StopUnconfirmed: it may have reached AWS and taken effect.
    """
    try:
        yield
    except ClientError as error:
        raise AwsError(error_text(error), error_code(error)) from error
    except NoCredentialsError as error:
        raise AwsError(NO_CREDENTIALS) from error
    except ParamValidationError as error:
        raise AwsError(f"{operation}: {error}") from error
    except ResponseParserError as error:  # not a BotoCoreError: an answer that is not AWS's (a proxy's page)
        raise AwsError(f"{operation}: the answer was not AWS's ({error_text(error)})") from error
    except BotoCoreError as error:
        if unconfirmed:  # after retries, any attempt may have reached AWS
            raise StopUnconfirmed(f"{operation} was sent but not confirmed: {error_text(error)}") from error
        raise AwsError(f"{operation}: {error_text(error)}") from error
