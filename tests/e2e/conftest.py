"""End-to-end fixtures: moto (with an operation recorder), FakeSlack, FakeLambda, a seeded fleet."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.emulator import Emulator
from demo.fleet import Machine, launch
from testkit.slack import FakeSlack
from testkit.slack_requests import CHANNEL, SIGNING_SECRET
from tests.aws import HOME, AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import SlackDriver
from tests.fakes.lambda_invoke import FakeLambda

BOT_TOKEN = "xoxb-test-token"

IDLE = [
    Machine("dev-alice-sandbox", HOME, [0.8] * 14, [0.5] * 14, "t3.large", "alice"),
    Machine("staging-reports", HOME, [1.5] * 14, [2.0] * 14, "m5.xlarge", "bob"),
]
BUSY = Machine("api-prod", HOME, [45.0] * 14, [900.0] * 14, "c6i.2xlarge", "payments")


@pytest.fixture(scope="session")
def aws_calls() -> AwsCalls:
    return AwsCalls()


@pytest.fixture(scope="session")
def aws_endpoint(aws_calls: AwsCalls) -> Iterator[tuple[str, Emulator | None]]:
    """The e2e tests' own moto server, wrapped to record every AWS operation it receives."""
    server = Emulator(wrap=aws_calls.wrap)
    server.start()
    try:
        yield server.url, server
    finally:
        server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_lambda() -> Iterator[FakeLambda]:
    """Lambda's Invoke API; the driver gives it the handler it serves."""
    fake = FakeLambda(lambda _event, _context: None).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def test_clients(aws_endpoint: tuple[str, Emulator | None]) -> Callable[[str, str], Any]:
    """boto3 clients for seeding, built once (creating an EC2 client costs about half a second)."""
    return functools.cache(AwsEnv(aws_endpoint[0]).client)


@pytest.fixture
def driver(aws: AwsEnv, slack: FakeSlack, fake_lambda: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> SlackDriver:
    """Slack settings pointing at the fakes and Lambda's Invoke at FakeLambda; no table or bucket yet."""
    for key, value in {
        "REAPER_REGIONS": HOME,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "REAPER_CHANNEL": CHANNEL,
        "REAPER_POST_INTERVAL": "0",
        "AWS_ENDPOINT_URL_LAMBDA": fake_lambda.url,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("REAPER_APPROVERS", "SLACK_TEAM_ID", "SLACK_APP_ID", "REAPER_SLACK_SECRET"):
        monkeypatch.delenv(key, raising=False)
    return SlackDriver(slack, fake_lambda)


@pytest.fixture
def bot(driver: SlackDriver, aws: AwsEnv) -> SlackDriver:
    """The driver with the decisions table and audit bucket created."""
    aws.init()
    return driver


@pytest.fixture
def fleet(aws: AwsEnv, test_clients: Callable[[str, str], Any]) -> dict[str, str]:
    """Two idle instances and a busy one in the home region; name → instance id."""
    return launch(test_clients, [*IDLE, BUSY])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # FakeLambda runs invocations on threads of one process, where Powertools' Metrics set is shared:
    # one invocation's flush can leave another's empty. Lambda runs one invocation per process.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"))
