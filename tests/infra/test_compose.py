"""docker-compose.yml, Dockerfile and .env.example agree with the code (Docker itself is not needed).

The init and seed services' commands are run here, as written in the compose file, against the
test AWS (moto's server, or LocalStack with REAPER_TEST_ENDPOINT): the local loop provisions
through exactly the code path of `python -m reaper init`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest

from demo import seed
from demo.fleet import demo_fleet
from reaper.aws.clients import Clients
from tests.aws import AwsEnv
from tests.calls import CallLog
from tests.infra.project import (
    COMPOSE,
    ENV_EXAMPLE,
    ROOT,
    env_names_in_code,
    load_template,
    load_yaml,
    read_env_file,
)

AWS_SDK_NAMES = {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
EMULATED = {"ec2", "cloudwatch", "dynamodb", "s3", "sts", "secretsmanager"}
# Shapes of real Slack credentials: tokens (xoxb-123-…, xapp-1-…) and 32-hex signing secrets.
REAL_LOOKING = re.compile(r"xox[abposr]-\d|xapp-\d|\b[0-9a-f]{32}\b")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def _run(command: list[str], aws: AwsEnv, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a compose command on this machine, with the service's environment aimed at the test AWS."""
    assert command[0] == "python"
    env = {**os.environ, **environment, **aws.env()}
    return subprocess.run(
        [sys.executable, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


# -- the file -----------------------------------------------------------------------------


def test_compose_defines_localstack_init_seed_and_bot(services: dict[str, Any]) -> None:
    assert set(services) == {"localstack", "init", "seed", "bot"}


def test_localstack_is_pinned_and_emulates_what_the_reaper_uses(services: dict[str, Any]) -> None:
    localstack = services["localstack"]
    assert re.fullmatch(r"localstack/localstack:\d+\.\d+\.\d+", localstack["image"])
    assert set(localstack["environment"]["SERVICES"].split(",")) == EMULATED
    assert "healthcheck" in localstack


def test_init_runs_python_m_reaper_init_once_localstack_is_healthy(services: dict[str, Any]) -> None:
    init = services["init"]
    assert init["command"] == ["python", "-m", "reaper", "init"]
    assert init["depends_on"] == {"localstack": {"condition": "service_healthy"}}


def test_seeding_is_optional_and_follows_init(services: dict[str, Any]) -> None:
    seed_service = services["seed"]
    assert seed_service["profiles"] == ["demo"]
    assert seed_service["command"] == ["python", "-m", "demo.seed"]
    assert seed_service["depends_on"] == {"init": {"condition": "service_completed_successfully"}}


def test_the_bot_runs_socket_mode_against_localstack_with_tokens_from_dotenv(services: dict[str, Any]) -> None:
    bot = services["bot"]
    assert bot["command"] == ["python", "-m", "bot"]
    assert bot["env_file"] == ".env"
    assert bot["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert bot["depends_on"] == {"init": {"condition": "service_completed_successfully"}}


def test_service_variables_are_ones_the_code_or_the_aws_sdk_reads(services: dict[str, Any]) -> None:
    known = env_names_in_code() | AWS_SDK_NAMES
    for name in ("init", "seed", "bot"):
        assert set(services[name]["environment"]) <= known, name
    settings = (ROOT / "reaper" / "settings.py").read_text()
    assert all(f'"{n}"' in settings for n in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"))


def test_the_image_carries_the_runtime_requirements_and_code_on_the_lambda_python() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = load_template()["Resources"]["ReaperFunction"]["Properties"]["Runtime"]
    assert f"FROM python:{runtime.removeprefix('python')}-slim" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    copied = set(re.findall(r"^COPY (\S+)/ ", dockerfile, re.MULTILINE))
    assert copied == {"reaper", "bot", "demo"}


# -- .env.example -------------------------------------------------------------------------


def test_env_example_lists_every_variable_the_bot_and_core_read(services: dict[str, Any]) -> None:
    example = set(read_env_file(ENV_EXAMPLE))
    from_compose = set(services["bot"]["environment"])
    assert env_names_in_code() <= example | from_compose
    assert example <= env_names_in_code()


def test_env_example_holds_placeholders_not_real_looking_secrets() -> None:
    for name, value in read_env_file(ENV_EXAMPLE).items():
        assert not REAL_LOOKING.search(value), name
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


# -- the commands, run for real against the test AWS -------------------------------------


def test_the_init_command_creates_the_table_and_bucket(aws: AwsEnv, services: dict[str, Any]) -> None:
    init = services["init"]
    result = _run(init["command"], aws, init["environment"])
    assert result.returncode == 0, result.stderr
    assert aws.client("dynamodb").describe_table(TableName=aws.table)["Table"]["TableStatus"] == "ACTIVE"
    aws.client("s3").head_bucket(Bucket=aws.bucket)
    again = _run(init["command"], aws, init["environment"])
    assert again.returncode == 0 and "already there" in again.stdout


def test_the_seed_command_launches_the_demo_fleet_once(aws: AwsEnv, services: dict[str, Any]) -> None:
    seed_service = services["seed"]
    first = _run(seed_service["command"], aws, seed_service["environment"])
    assert first.returncode == 0, first.stderr
    launched = first.stdout.split()
    regions = seed_service["environment"]["REAPER_REGIONS"].split(",")
    expected = sorted(m.name for m in demo_fleet(regions))
    assert sorted(launched[1::2]) == expected and all(i.startswith("i-") for i in launched[::2])
    second = _run(seed_service["command"], aws, seed_service["environment"])
    assert second.returncode == 0 and "already running" in second.stdout


def test_seeding_refuses_to_run_without_an_emulator_endpoint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert seed.main() == 2
    assert "AWS_ENDPOINT_URL is not set" in capsys.readouterr().err


def test_seeding_asks_whether_the_fleet_runs_once_per_region(
    aws: AwsEnv, services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = CallLog()

    class CountedClients(Clients):
        def client(self, service: str, region: str) -> Any:
            return log.attach(super().client(service, region)) if service == "ec2" else super().client(service, region)

    for name, value in {**aws.env(), "REAPER_REGIONS": services["seed"]["environment"]["REAPER_REGIONS"]}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(seed, "Clients", CountedClients)

    assert seed.main() == 0

    assert log.counts["DescribeInstances"] == 2
