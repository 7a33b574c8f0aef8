"""REAPER_SLACK_SECRET: read with the home region, and a failure says which fix it needs.

AWS's answers come from botocore's Stubber: moto grants every caller every secret, so it
cannot answer AccessDenied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bot.config import fetch_secret
from bot.errors import BotConfigError
from reaper.aws.secrets import read_json
from reaper.settings import Timeouts

ENV = {"AWS_REGION": "eu-west-1"}
DENIED = "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: secretsmanager:GetSecretValue"


@pytest.fixture
def secrets() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("secretsmanager", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield client, stubber


@pytest.fixture
def ssm() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield client, stubber


def _value(stubber: Stubber, name: str, value: str) -> None:
    stubber.add_response("get_secret_value", {"Name": name, "SecretString": value}, {"SecretId": name})


def test_a_json_object_secret_gives_its_keys(secrets: tuple[Any, Stubber]) -> None:
    client, stubber = secrets
    _value(stubber, "reaper/slack", json.dumps({"SLACK_BOT_TOKEN": "xoxb-1"}))

    assert fetch_secret("reaper/slack", ENV, partial(read_json, client=client)) == {"SLACK_BOT_TOKEN": "xoxb-1"}


@pytest.mark.parametrize("value", ["xoxb-1", '["xoxb-1"]'])
def test_a_secret_that_is_not_a_json_object_is_named(secrets: tuple[Any, Stubber], value: str) -> None:
    client, stubber = secrets
    _value(stubber, "reaper/slack", value)

    with pytest.raises(BotConfigError, match=r"^REAPER_SLACK_SECRET: reaper/slack is not a JSON object$"):
        fetch_secret("reaper/slack", ENV, partial(read_json, client=client))


def test_a_missing_secret_says_not_found_and_where(secrets: tuple[Any, Stubber]) -> None:
    client, stubber = secrets
    stubber.add_client_error("get_secret_value", "ResourceNotFoundException", "Secrets Manager can't find it.")

    with pytest.raises(BotConfigError, match=r"^REAPER_SLACK_SECRET: secret reaper/slack was not found in eu-west-1$"):
        fetch_secret("reaper/slack", ENV, partial(read_json, client=client))


def test_a_denied_secret_says_denied_and_the_permission_it_needs(secrets: tuple[Any, Stubber]) -> None:
    client, stubber = secrets
    stubber.add_client_error("get_secret_value", "AccessDeniedException", DENIED, http_status_code=400)

    with pytest.raises(BotConfigError) as raised:
        fetch_secret("reaper/slack", ENV, partial(read_json, client=client))

    assert str(raised.value) == (
        "REAPER_SLACK_SECRET: access to secret reaper/slack was denied "
        f"(needs secretsmanager:GetSecretValue): {DENIED}"
    )


def test_a_denied_ssm_parameter_names_ssm_get_parameter(ssm: tuple[Any, Stubber]) -> None:
    client, stubber = ssm
    stubber.add_client_error("get_parameter", "AccessDeniedException", "not authorized", http_status_code=400)

    denied = r"access to SSM parameter /reaper/slack was denied \(needs ssm:GetParameter\)"
    with pytest.raises(BotConfigError, match=denied):
        fetch_secret("/reaper/slack", ENV, partial(read_json, client=client))


def test_a_missing_ssm_parameter_says_not_found(ssm: tuple[Any, Stubber]) -> None:
    client, stubber = ssm
    stubber.add_client_error("get_parameter", "ParameterNotFound", "", http_status_code=400)

    with pytest.raises(BotConfigError, match=r"^REAPER_SLACK_SECRET: SSM parameter /reaper/slack was not found"):
        fetch_secret("/reaper/slack", ENV, partial(read_json, client=client))


def test_without_a_region_the_secret_is_not_looked_for_anywhere() -> None:
    with pytest.raises(BotConfigError, match=r"^REAPER_SLACK_SECRET: set AWS_REGION to the region reaper/slack is in"):
        fetch_secret("reaper/slack", {}, read_json)


def test_only_aws_region_is_enough_to_build_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3's defaults read AWS_DEFAULT_REGION only: Powertools' own client raised NoRegionError here.
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # refused at once, and never off this machine
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "x")

    with pytest.raises(BotConfigError, match=r"^REAPER_SLACK_SECRET: could not read secret reaper/slack: Could not"):
        fetch_secret("reaper/slack", ENV, partial(read_json, timeouts=Timeouts(connect=1, read=1, attempts=1)))
