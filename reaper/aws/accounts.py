"""Member accounts gateway (issue 15): the accounts to scan, and their EC2 and CloudWatch on assumed roles.

Each member account gets its own botocore session whose credentials come from sts:AssumeRole
on the account's role and are refreshed by botocore before they expire (a Socket Mode bot runs
for days). All those sessions share one data loader, so the EC2 model is parsed once: a
session's first EC2 client otherwise costs about half a second, which an organisation of 50
accounts would pay 50 times. A stop is made on credentials assumed afresh with the approver as
SourceIdentity (reaper.accounts.source_identity); they are used for that one stop and dropped.

IAM, in the reaper's own account: sts:AssumeRole and sts:SetSourceIdentity on the member role
(infra/template.yaml), organizations:ListAccounts with REAPER_ORGANIZATION. In each member
account: infra/member-role.yaml.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore.credentials import RefreshableCredentials

from reaper.accounts import source_identity
from reaper.aws.clients import Clients, _LazyClient, aws_config, translated, utc_timestamp
from reaper.aws.cloudwatch import CloudWatchGateway
from reaper.aws.ec2 import Ec2Gateway
from reaper.model import Account
from reaper.settings import Settings

IAM_ACTIONS = ("sts:AssumeRole", "sts:SetSourceIdentity", "organizations:ListAccounts")

SESSION_NAME = "instance-reaper"  # what the member account's CloudTrail shows as the role session
CREDENTIALS_SECONDS = 3600  # the role's default maximum session; botocore refreshes before expiry


class MemberAccounts:
    """reaper.ports.Accounts on sts:AssumeRole (and organizations:ListAccounts)."""

    def __init__(self, settings: Settings, clients: Clients | None = None, *, sts: Any = None,
                 organizations: Any = None, on_client: Callable[[Any, str], Any] | None = None) -> None:
        """`sts` and `organizations` are this account's clients (built from `clients` when not given);
        `on_client` sees each member-account client, with its account id, as it is built (tests and the
        bench count calls)."""
        clients = clients or Clients(settings)
        self._on_client = on_client
        self._settings = settings
        self._sts = sts or clients.lazy("sts", settings.home_region)
        self._organizations = organizations or clients.lazy("organizations", settings.home_region)
        self._lock = threading.Lock()
        self._loader: Any = None
        self._names: dict[str, str] = {}
        self._sessions: dict[str, boto3.session.Session] = {}

    def listed(self) -> list[Account]:
        """REAPER_ACCOUNTS in its order, or the organisation's ACTIVE accounts by id (suspended and
        closing accounts are left out: their instances cannot be stopped and their roles answer
        nothing useful)."""
        if not self._settings.organization:
            return [Account(arn.split(":")[4], arn) for arn in self._settings.member_roles]
        found: list[Account] = []
        with translated("ListAccounts"):
            for page in self._organizations.get_paginator("list_accounts").paginate():
                for raw in page.get("Accounts", []):
                    if raw.get("Status", "ACTIVE") != "ACTIVE":
                        continue
                    account_id = str(raw["Id"])
                    name = raw.get("Name") or None
                    found.append(Account(account_id, self._settings.member_role(account_id), name))
        with self._lock:
            self._names.update((a.id, a.name) for a in found if a.name)
        return sorted(found, key=lambda a: a.id)

    def name(self, account_id: str) -> str | None:
        with self._lock:
            return self._names.get(account_id)

    @functools.cache  # noqa: B019 - one gateway per shard for the life of this object (it caches type answers)
    def _ec2(self, account_id: str, region: str) -> Ec2Gateway:
        return Ec2Gateway(self._lazy(account_id, "ec2", region), region, account_id, self.name(account_id))

    def ec2(self, account_id: str, region: str, *, actor: str | None = None) -> Ec2Gateway:
        if actor is None:
            return self._ec2(account_id, region)
        # A session of its own, assumed with SourceIdentity: never shared with scans or other approvers.
        client = _LazyClient(lambda: self._client(self._session(account_id, actor), "ec2", region, account_id))
        return Ec2Gateway(client, region, account_id, self.name(account_id))

    @functools.cache  # noqa: B019 - as _ec2
    def metrics(self, account_id: str, region: str) -> CloudWatchGateway:
        return CloudWatchGateway(self._lazy(account_id, "cloudwatch", region), region)

    # -- sessions on assumed roles ------------------------------------------------------------

    def _lazy(self, account_id: str, service: str, region: str) -> Any:
        """A client built on first use; AssumeRole is asked then, and a refusal is that call's AwsError
        (a shard of an account whose role is missing fails alone). Not kept on failure: the next
        call asks again."""
        return _LazyClient(lambda: self._client(self._shared_session(account_id), service, region, account_id))

    def _shared_session(self, account_id: str) -> boto3.session.Session:
        with self._lock:
            session = self._sessions.get(account_id)
        if session is None:
            session = self._session(account_id, None)
            with self._lock:
                session = self._sessions.setdefault(account_id, session)
        return session

    def _session(self, account_id: str, actor: str | None) -> boto3.session.Session:
        role = self._settings.member_role(account_id)
        params: dict[str, Any] = {"RoleArn": role, "RoleSessionName": SESSION_NAME,
                                  "DurationSeconds": CREDENTIALS_SECONDS}
        if actor is not None:
            params["SourceIdentity"] = source_identity(actor)
            params["RoleSessionName"] = f"{SESSION_NAME}-{params['SourceIdentity']}"[:64]

        def assume() -> dict[str, str]:
            with translated("AssumeRole"):
                answer = self._sts.assume_role(**params)["Credentials"]
            return {"access_key": answer["AccessKeyId"], "secret_key": answer["SecretAccessKey"],
                    "token": answer["SessionToken"], "expiry_time": answer["Expiration"].isoformat()}

        credentials = RefreshableCredentials.create_from_metadata(assume(), assume, "sts-assume-role")
        with self._lock:
            core = botocore.session.get_session()
            if self._loader is None:
                self._loader = core.get_component("data_loader")
            core.register_component("data_loader", self._loader)
            core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=utc_timestamp)
            # botocore has no public setter for refreshable credentials; its own assume-role
            # provider hands them to the session the same way.
            core._credentials = credentials  # type: ignore[attr-defined]
            return boto3.session.Session(botocore_session=core)

    def _client(self, session: boto3.session.Session, service: str, region: str, account_id: str) -> Any:
        with self._lock:  # sessions are not thread-safe; the clients they make are
            service_id = session._session.get_service_model(service).service_id
            client = session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self._settings.endpoint_for(service_id),
                config=aws_config(self._settings.timeouts, service),
            )
        if self._on_client is not None:
            self._on_client(client, account_id)
        return client
