"""The one typed settings object, read from the environment in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from reaper.errors import SettingsError
from reaper.owners import DEFAULT_OWNER_TAGS

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

# A month and a day: a monthly job runs at most 31 days apart, so every window of 32 whole
# days holds a run of it. Longer windows would keep a box busy for weeks after its work
# stopped. (GetMetricData is not the limit: 500 queries × 32 days = 16 000 datapoints a
# call, of the 100 800 it allows.)
MAX_LOOKBACK_DAYS = 32

# The member-account role's name when REAPER_ACCOUNTS lists account ids or REAPER_ORGANIZATION is
# on: infra/member-role.yaml's default, which the main role alone may assume.
DEFAULT_MEMBER_ROLE = "instance-reaper-member"
# Fan-out (issue 15; README, Many accounts): the shards one invocation scans within its Timeout
# with room to spare (measured by `make bench`), and the longest SQS delay, the report's deadline.
DEFAULT_FANOUT_SHARDS = 100
MAX_DEADLINE_SECONDS = 900
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


@dataclass(frozen=True)
class IdlePolicy:
    """Thresholds that decide whether an instance is idle (see reaper.policy)."""

    lookback_days: int = 14
    cpu_percent: float = 5.0
    cpu_peak_percent: float = 20.0
    network_mb: float = 5.0
    min_days: int = 3


@dataclass(frozen=True)
class Timeouts:
    """How long one AWS call may take before the caller hears that nothing answered.

    A property of the entry point, not of the environment: a person at a terminal wants to
    know within seconds that the endpoint is silent, while a Lambda run only has to end inside
    the function's own Timeout (infra/template.yaml; tests/infra checks the sum).
    """

    connect: float
    read: float
    attempts: int  # botocore's total_max_attempts: the first try and its retries

    @property
    def worst_case(self) -> float:
        """Seconds one call can take against an endpoint that accepts and never answers.

        Standard retry mode sleeps a random share of 2**n seconds before retry n (n from 0).
        """
        backoff = sum(2.0**n for n in range(self.attempts - 1))
        return self.attempts * (self.connect + self.read) + backoff


# The Lambda function: a scheduled report may read big pages, and has minutes to do it.
LAMBDA_TIMEOUTS = Timeouts(connect=3, read=15, attempts=3)
# `python -m reaper`, `python -m demo` and `python -m bot`: someone is waiting at a terminal.
TERMINAL_TIMEOUTS = Timeouts(connect=2, read=10, attempts=2)
# The Price List, whatever the entry point: a filtered GetProducts answers in well under a second,
# and prices are optional, so a silent Price List may cost a report seconds, not minutes.
PRICE_LIST_TIMEOUTS = Timeouts(connect=2, read=5, attempts=3)

# AWS calls a scan keeps in flight at once, all regions together: stop-protection look-ups
# and GetMetricData (reaper.scan's pool). Here because the clients' connection pools are
# sized for it too (reaper.aws.clients).
LOOKUPS_IN_FLIGHT = 8

# Reports an instance tagged reaper:auto-stop=true may go unanswered when REAPER_AUTO_STOP_AFTER is off.
AUTO_STOP_AFTER_DEFAULT = 3
# The Lambda's Timeout (600 s) holds a scan's worst case over 8 silent regions (533 s,
# tests/infra) plus this much pacing of stop-protection look-ups (reaper.lookups).
MAX_LOOKUP_SECONDS = 60.0


@dataclass(frozen=True)
class Settings:
    home_region: str
    regions: tuple[str, ...]
    table: str = "instance-reaper"
    bucket: str = "instance-reaper-audit"
    endpoint_url: str | None = None
    policy: IdlePolicy = IdlePolicy()
    keep_days: int = 7
    row_days: int = 3
    timeouts: Timeouts = LAMBDA_TIMEOUTS
    # AWS_ENDPOINT_URL_<SERVICE> variables, as (SERVICE, url): botocore ignores them for a client
    # given endpoint_url explicitly, so they are read here and chosen per client (endpoint_for).
    service_endpoints: tuple[tuple[str, str], ...] = ()
    prices: bool = True  # REAPER_PRICES=off: no Price List look-ups (regions or partitions without it)
    # Issue 14 (App Home): the report's EventBridge schedule, to tell people when it comes next.
    report_schedule: str | None = None
    # Dry run (issue 15, part 3): every stop is sent with EC2's DryRun=True and recorded as "would stop".
    dry_run: bool = False
    # Grace-period stop (issue 15, part 4): stop an instance left unanswered in this many consecutive
    # reports, 24 hours after announcing it; None: off (instances tagged reaper:auto-stop=true use
    # AUTO_STOP_AFTER_DEFAULT then).
    auto_stop_after: int | None = None
    # Look-up cache (issue 20): seconds a scan may spend pacing the stop-protection look-ups the cache
    # lacks; those not asked by then are offered as "not yet checked" and asked by the next scan.
    lookup_seconds: float = 60.0
    # Owners (issue 14): the tag keys naming an instance's owner, first match wins (reaper.owners),
    # and whether an owner who is not an approver may Stop their own instance (Keep they always may).
    owner_tags: tuple[str, ...] = DEFAULT_OWNER_TAGS
    owners_may_stop: bool = True
    # Many accounts (issue 15): the member roles to assume (REAPER_ACCOUNTS as role ARNs), whether
    # to list the organisation's active accounts instead (REAPER_ORGANIZATION), and the role name
    # for account ids. Neither set: one account, this one, as before.
    member_roles: tuple[str, ...] = ()
    organization: bool = False
    member_role_name: str = DEFAULT_MEMBER_ROLE
    # Fan-out (issue 15): the queue that triggers this function per shard (REAPER_SHARD_QUEUE, a URL;
    # unset: never fan out), the shard count above which a scheduled report fans out
    # (REAPER_FANOUT_SHARDS) and how long it waits for the last shard (REAPER_FANOUT_DEADLINE).
    shard_queue: str | None = None
    fanout_shards: int = DEFAULT_FANOUT_SHARDS
    fanout_deadline: int = MAX_DEADLINE_SECONDS

    @property
    def many_accounts(self) -> bool:
        """Whether scans and stops go to member accounts through sts:AssumeRole."""
        return bool(self.member_roles) or self.organization

    def member_role(self, account_id: str) -> str:
        """The role to assume in a member account: its REAPER_ACCOUNTS ARN, else REAPER_MEMBER_ROLE_NAME."""
        for arn in self.member_roles:
            if arn.split(":")[4] == account_id:
                return arn
        return f"arn:{partition(self.home_region)}:iam::{account_id}:role/{self.member_role_name}"

    def endpoint_for(self, service_id: str) -> str | None:
        """The endpoint a client of this service (botocore's service id, e.g. "Pricing") should use:
        its own AWS_ENDPOINT_URL_<SERVICE> if set, else AWS_ENDPOINT_URL, else None (AWS itself)."""
        wanted = service_id.replace(" ", "_").replace("-", "_").upper()
        return dict(self.service_endpoints).get(wanted) or self.endpoint_url

    def scans(self, region: str) -> bool:
        """Whether `region` is one of REAPER_REGIONS: the reaper judges and stops nothing elsewhere
        unless a person insists (`python -m reaper stop --force`)."""
        return region in self.regions

    def not_scanned(self, region: str) -> str | None:
        """Why `region` is outside the reaper's remit, in one sentence; None when it is one of REAPER_REGIONS."""
        if self.scans(region):
            return None
        return f"{region} is not one of REAPER_REGIONS ({', '.join(self.regions)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, timeouts: Timeouts = LAMBDA_TIMEOUTS) -> Settings:
        """Read and validate every REAPER_* variable; a bad value names its variable.

        `timeouts` is the entry point's: each says how long it can wait for AWS.
        """
        env = os.environ if env is None else env
        source = "AWS_REGION" if env.get("AWS_REGION") else "AWS_DEFAULT_REGION"
        home = env.get(source) or ""
        if not home:
            raise SettingsError("AWS_REGION (or AWS_DEFAULT_REGION) must name the home region")
        check_region(source, home)
        for variable in sorted(v for v in env if v.startswith("AWS_ENDPOINT_URL")):
            _check_url(variable, env[variable])
        regions = _regions(env.get("REAPER_REGIONS", ""), home)
        policy = IdlePolicy(
            lookback_days=_integer(
                env, "REAPER_LOOKBACK_DAYS", 14, minimum=1, maximum=MAX_LOOKBACK_DAYS,
                why="every 32-day window holds a run of a monthly job; README, How it decides",
            ),
            cpu_percent=_number(env, "REAPER_CPU_PERCENT", 5.0, maximum=100.0),
            cpu_peak_percent=_number(env, "REAPER_CPU_PEAK_PERCENT", 20.0, maximum=100.0),
            network_mb=_number(env, "REAPER_NETWORK_MB", 5.0),
            min_days=_integer(env, "REAPER_MIN_DAYS", 3, minimum=1),
        )
        if policy.cpu_peak_percent < policy.cpu_percent:
            raise SettingsError(
                f"REAPER_CPU_PEAK_PERCENT ({policy.cpu_peak_percent:g}) cannot be below "
                f"REAPER_CPU_PERCENT ({policy.cpu_percent:g}): a day's peak is never below its average"
            )
        if policy.min_days > policy.lookback_days:
            raise SettingsError(
                f"REAPER_MIN_DAYS ({policy.min_days}) cannot exceed "
                f"REAPER_LOOKBACK_DAYS ({policy.lookback_days})"
            )
        member_roles, organization, member_role_name = _accounts(env)
        return cls(
            home_region=home,
            regions=regions,
            table=_name(env, "REAPER_TABLE", "instance-reaper"),
            bucket=_name(env, "REAPER_BUCKET", "instance-reaper-audit"),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            service_endpoints=tuple(sorted(
                (variable.removeprefix("AWS_ENDPOINT_URL_"), env[variable]) for variable in env
                if variable.startswith("AWS_ENDPOINT_URL_") and env[variable].strip()
            )),
            prices=_switch(env, "REAPER_PRICES", True),
            policy=policy,
            keep_days=_integer(env, "REAPER_KEEP_DAYS", 7, minimum=1, maximum=365),
            row_days=_integer(env, "REAPER_ROW_DAYS", 3, minimum=1, maximum=30),
            timeouts=timeouts,
            report_schedule=_schedule(env, "REAPER_REPORT_SCHEDULE"),
            # Dry run and the grace-period stop (issue 15, parts 3 and 4).
            dry_run=_switch(env, "REAPER_DRY_RUN", False),
            auto_stop_after=_auto_stop_after(env),
            # Look-up cache (issue 20).
            lookup_seconds=_number(env, "REAPER_LOOKUP_SECONDS", 60.0, maximum=MAX_LOOKUP_SECONDS),
            # Owners (issue 14)
            owner_tags=_owner_tags(env.get("REAPER_OWNER_TAGS", "")),
            owners_may_stop=_switch(env, "REAPER_OWNERS_MAY_STOP", True),
            # many accounts (issue 15)
            member_roles=member_roles, organization=organization, member_role_name=member_role_name,
            # fan-out (issue 15)
            shard_queue=_raw(env, "REAPER_SHARD_QUEUE"),
            fanout_shards=_integer(env, "REAPER_FANOUT_SHARDS", DEFAULT_FANOUT_SHARDS, minimum=1),
            fanout_deadline=_integer(env, "REAPER_FANOUT_DEADLINE", MAX_DEADLINE_SECONDS, minimum=60,
                                     maximum=MAX_DEADLINE_SECONDS, why="SQS delays a message at most 15 minutes"),
        )


def partition(region: str) -> str:
    """The ARN partition of a region: aws-cn for China, aws-us-gov for GovCloud, aws elsewhere."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _accounts(env: Mapping[str, str]) -> tuple[tuple[str, ...], bool, str]:
    """REAPER_ACCOUNTS (role ARNs or account ids), REAPER_ORGANIZATION, REAPER_MEMBER_ROLE_NAME."""
    name = _raw(env, "REAPER_MEMBER_ROLE_NAME") or DEFAULT_MEMBER_ROLE
    if not _ROLE_NAME.match(name):
        raise SettingsError(f"REAPER_MEMBER_ROLE_NAME: {name!r} is not an IAM role name")
    home = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    roles: list[str] = []
    for entry in (part.strip() for part in env.get("REAPER_ACCOUNTS", "").split(",")):
        if not entry:
            continue
        if _ACCOUNT_ID.match(entry):
            roles.append(f"arn:{partition(home)}:iam::{entry}:role/{name}")
        elif _ROLE_ARN.match(entry):
            roles.append(entry)
        else:
            raise SettingsError(f"REAPER_ACCOUNTS: {entry!r} is neither a 12-digit account id nor an IAM role ARN "
                                "(arn:aws:iam::123456789012:role/instance-reaper-member)")
    accounts = [arn.split(":")[4] for arn in roles]
    if len(set(accounts)) != len(accounts):
        raise SettingsError("REAPER_ACCOUNTS: an account is named twice")
    organization = _switch(env, "REAPER_ORGANIZATION", False)
    if organization and roles:
        raise SettingsError("REAPER_ACCOUNTS and REAPER_ORGANIZATION=true exclude each other: "
                            "list the accounts, or let the organisation list them")
    return tuple(roles), organization, name


def _auto_stop_after(env: Mapping[str, str]) -> int | None:
    """REAPER_AUTO_STOP_AFTER: off (unset, "off", 0) or a number of consecutive unanswered reports."""
    raw = (_raw(env, "REAPER_AUTO_STOP_AFTER") or "").lower()
    if raw in ("", "off", "false", "no", "0"):
        return None
    return _integer(env, "REAPER_AUTO_STOP_AFTER", 0, minimum=1, maximum=30,
                    why="a report a day for a month; README, Grace-period stop")


def is_region(name: str) -> bool:
    """Whether `name` has the shape of an AWS region name (eu-west-1, us-gov-west-1, …)."""
    return bool(_REGION.match(name))


def check_region(variable: str, region: str) -> None:
    if not is_region(region):
        raise SettingsError(f"{variable}: {region!r} is not an AWS region name (e.g. eu-west-1)")


def _check_url(variable: str, raw: str) -> None:
    # botocore reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> itself, and raises
    # "ValueError: Invalid endpoint" only when the first client is created.
    if not raw.strip():
        return
    try:
        url = urlsplit(raw.strip())
        valid = url.scheme in ("http", "https") and bool(url.hostname) and (url.port is None or url.port > 0)
    except ValueError:  # a port that is not a number
        valid = False
    if not valid:
        raise SettingsError(f"{variable}: {raw!r} is not an http(s) URL (e.g. http://localhost:4566)")


def _regions(raw: str, home: str) -> tuple[str, ...]:
    names = [part.strip() for part in raw.split(",") if part.strip()]
    for name in names:
        check_region("REAPER_REGIONS", name)
    return tuple(dict.fromkeys(names)) or (home,)


def _raw(env: Mapping[str, str], variable: str) -> str | None:
    value = env.get(variable, "").strip()
    return value or None


def _integer(
    env: Mapping[str, str],
    variable: str,
    default: int,
    *,
    minimum: int = 0,
    maximum: int | None = None,
    why: str = "",
) -> int:
    raw = _raw(env, variable)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{variable}: {raw!r} is not a whole number") from None
    _bounds(variable, value, minimum, maximum, why)
    return value


def _number(env: Mapping[str, str], variable: str, default: float, *, maximum: float | None = None) -> float:
    raw = _raw(env, variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{variable}: {raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise SettingsError(f"{variable}: {raw!r} is not a finite number")
    _bounds(variable, value, 0, maximum)
    return value


def _bounds(variable: str, value: float, minimum: float, maximum: float | None, why: str = "") -> None:
    if value < minimum:
        raise SettingsError(f"{variable}: {value:g} is below the minimum of {minimum:g}")
    if maximum is not None and value > maximum:
        reason = f" ({why})" if why else ""
        raise SettingsError(f"{variable}: {value:g} is above the maximum of {maximum:g}{reason}")


def _switch(env: Mapping[str, str], variable: str, default: bool) -> bool:
    raw = (_raw(env, variable) or "").lower()
    if not raw:
        return default
    if raw in ("on", "true", "yes", "1"):
        return True
    if raw in ("off", "false", "no", "0"):
        return False
    raise SettingsError(f"{variable}: {raw!r} is neither on nor off")


def _schedule(env: Mapping[str, str], variable: str) -> str | None:
    from reaper.schedule import is_schedule

    raw = _raw(env, variable)
    if raw is not None and not is_schedule(raw):
        raise SettingsError(f"{variable}: {raw!r} is not an EventBridge schedule (e.g. cron(0 9 ? * MON-FRI *))")
    return raw


def _name(env: Mapping[str, str], variable: str, default: str) -> str:
    value = _raw(env, variable) or default
    if not re.fullmatch(r"[A-Za-z0-9._-]{3,255}", value):
        raise SettingsError(f"{variable}: {value!r} is not a valid table or bucket name")
    return value


def _owner_tags(raw: str) -> tuple[str, ...]:
    """REAPER_OWNER_TAGS: comma-separated tag keys, in the order they are tried (EC2 allows 128 characters)."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    for key in keys:
        if len(key) > 128:
            raise SettingsError(f"REAPER_OWNER_TAGS: {key[:20]!r}… is longer than a tag key can be (128 characters)")
    return tuple(dict.fromkeys(keys)) or DEFAULT_OWNER_TAGS
