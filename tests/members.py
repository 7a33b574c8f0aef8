"""Member accounts in moto (issue 15): clients on AssumeRole credentials, for seeding and checking.

moto keeps one world per account and answers AssumeRole with credentials of the role's account
(it never checks that the role exists).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import boto3

from demo.fleet import launch
from tests.aws import HOME, AwsEnv

ACCOUNTS = [f"{100000000000 + n * 1111:012d}" for n in range(1, 21)]  # 20 member accounts


class Members:
    """Clients in member accounts for seeding and checking, on AssumeRole credentials from moto."""

    def __init__(self, aws: AwsEnv) -> None:
        self.aws = aws
        self.session = boto3.session.Session()  # one session: its clients share the parsed models

    @functools.cache  # noqa: B019 - a test's own helper
    def credentials(self, account: str) -> dict[str, str]:
        answer = self.aws.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/instance-reaper-member", RoleSessionName="seeding")["Credentials"]
        return {"aws_access_key_id": answer["AccessKeyId"], "aws_secret_access_key": answer["SecretAccessKey"],
                "aws_session_token": answer["SessionToken"]}

    @functools.cache  # noqa: B019
    def client(self, account: str, service: str, region: str = HOME) -> Any:
        return self.session.client(service, region_name=region, endpoint_url=self.aws.url,  # type: ignore[call-overload]
                                   **self.credentials(account))

    def seed(self, account: str, machines: list[Any]) -> dict[str, str]:
        return launch(lambda service, region: self.client(account, service, region), machines, datetime.now(UTC))


