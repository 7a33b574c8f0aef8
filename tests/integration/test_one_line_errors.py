"""Every bad start a new user can make is one line on stderr naming the cause, quickly.

Each case runs `python -m reaper` or `python -m bot` as a subprocess, as a user would, and
must end with the documented exit code, exactly one line on stderr that names the cause,
no traceback, and within a time limit: a silent endpoint (FakeSilentEndpoint accepts and
never answers) must not keep anyone waiting for minutes. The cases run concurrently (most
of their time is waiting on a socket); each is still reported as its own test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from demo.emulator import Emulator
from testkit.slack import FakeSlack
from tests.aws import AwsEnv
from tests.fakes.silent import FakeSilentEndpoint

ROOT = Path(__file__).resolve().parents[2]
GOOD_BOT_TOKEN = "xoxb-good"
GOOD_APP_TOKEN = "xapp-good"
REFUSED = "http://127.0.0.1:9"  # nothing listens on the discard port: connection refused
QUICK = 20.0  # seconds for a start that fails before waiting on anything
SILENT = 40.0  # seconds for one that waits out a silent endpoint (it used to take over two minutes)


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # after `python -m`
    says: tuple[str, ...]  # each must be in the one line on stderr
    env: Mapping[str, str | None] = field(default_factory=dict)  # None unsets; "{name}" is filled in
    code: int = 2
    within: float = QUICK


CASES = [
    # 1. A silent endpoint: the CLI's timeouts (connect 2 s, read 10 s, 2 attempts), then one line.
    Case("scan-silent-endpoint", ("reaper", "scan"), ("DynamoDB: Read timeout", "{silent}", "nothing answered"),
         {"AWS_ENDPOINT_URL": "{silent}"}, within=SILENT),
    Case("reconcile-silent-endpoint", ("reaper", "reconcile"), ("DynamoDB: Read timeout", "{silent}"),
         {"AWS_ENDPOINT_URL": "{silent}"}, within=SILENT),
    Case("bot-silent-endpoint", ("bot",), ("bot: error: DynamoDB: Read timeout", "{silent}"),
         {"AWS_ENDPOINT_URL": "{silent}"}, within=SILENT),
    # 2. An endpoint that is not a URL.
    Case("scan-endpoint-not-a-url", ("reaper", "scan"), ("AWS_ENDPOINT_URL: 'notaurl' is not an http(s) URL",),
         {"AWS_ENDPOINT_URL": "notaurl"}),
    Case("bot-endpoint-not-a-url", ("bot",), ("AWS_ENDPOINT_URL: 'notaurl'",), {"AWS_ENDPOINT_URL": "notaurl"}),
    # 3. --region is checked like REAPER_REGIONS.
    Case("scan-region-mars", ("reaper", "scan", "--region", "mars-1"),
         ("argument --region: 'mars-1' is not an AWS region name",)),
    Case("stop-region-mars", ("reaper", "stop", "i-0123456789abcdef0", "--region", "mars-1"),
         ("argument --region: 'mars-1'",)),
    Case("keep-region-mars", ("reaper", "keep", "i-0123456789abcdef0", "--region", "mars-1"),
         ("argument --region: 'mars-1'",)),
    # 4. The Slack secret: only AWS_REGION set (it was read: the complaint is the token it lacks),
    #    not JSON, not there.
    Case("secret-with-only-aws-region", ("bot",), ("SLACK_APP_TOKEN",),
         {"REAPER_SLACK_SECRET": "{no_app_token_secret}", "AWS_DEFAULT_REGION": None,
          "SLACK_BOT_TOKEN": None, "SLACK_APP_TOKEN": None}),
    Case("secret-not-json", ("bot",), ("REAPER_SLACK_SECRET: {plain_secret} is not a JSON object",),
         {"REAPER_SLACK_SECRET": "{plain_secret}"}),
    Case("secret-not-found", ("bot",), ("REAPER_SLACK_SECRET: secret reaper/nowhere was not found in us-east-1",),
         {"REAPER_SLACK_SECRET": "reaper/nowhere"}),
    Case("ssm-parameter-not-found", ("bot",), ("SSM parameter /reaper/nowhere was not found",),
         {"REAPER_SLACK_SECRET": "/reaper/nowhere"}),
    # 5. Slack refuses a token, cannot be reached, or does not answer.
    Case("bot-token-refused", ("bot",), ("SLACK_BOT_TOKEN was refused by Slack (invalid_auth)",),
         {"SLACK_BOT_TOKEN": "xoxb-revoked"}),
    Case("app-token-refused", ("bot",), ("SLACK_APP_TOKEN was refused by Slack (invalid_auth)",),
         {"SLACK_APP_TOKEN": "xapp-revoked"}),
    Case("slack-refused", ("bot",), (f"cannot reach Slack at {REFUSED}/api/", "Connection refused"),
         {"SLACK_API_URL": f"{REFUSED}/api/"}),
    Case("slack-silent", ("bot",), ("cannot reach Slack at {silent}/api/", "no answer within 5 s"),
         {"SLACK_API_URL": "{silent}/api/"}),
    # 6. The log level is a setting like the others.
    Case("log-level-verbose", ("bot",), ("REAPER_LOG_LEVEL: 'verbose' is not one of DEBUG, INFO",),
         {"REAPER_LOG_LEVEL": "verbose"}),
    # 7. The bot checks its ground before it connects, as the CLI does.
    Case("bot-before-init-table", ("bot",),
         ("DynamoDB table nosuchtable does not exist: run `python -m reaper init`",), {"REAPER_TABLE": "nosuchtable"}),
    Case("bot-before-init-bucket", ("bot",),
         ("S3 bucket nosuchbucket does not exist: run `python -m reaper init`",), {"REAPER_BUCKET": "nosuchbucket"}),
]


@dataclass(frozen=True)
class Run:
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str
    seconds: float


@dataclass(frozen=True)
class Ground:
    env: dict[str, str]
    names: dict[str, str]


@pytest.fixture(scope="module")
def ground(aws_endpoint: tuple[str, Emulator | None]) -> Iterator[Ground]:
    """A table and bucket, two secrets, a FakeSlack that knows the good tokens, a silent port."""
    aws = AwsEnv(aws_endpoint[0])
    with pytest.MonkeyPatch.context() as patch:
        for key, value in aws.env().items():
            patch.setenv(key, value)
        aws.init()
    suffix = uuid.uuid4().hex[:8]
    names = {"no_app_token_secret": f"reaper/bot-only-{suffix}", "plain_secret": f"reaper/plain-{suffix}"}
    secrets = aws.client("secretsmanager")
    secrets.create_secret(Name=names["no_app_token_secret"], SecretString=json.dumps({"SLACK_BOT_TOKEN": "xoxb-s"}))
    secrets.create_secret(Name=names["plain_secret"], SecretString="xoxb-not-json")
    slack = FakeSlack().start()
    slack.revoked.update({"xoxb-revoked", "xapp-revoked"})
    silent = FakeSilentEndpoint().start()
    names["silent"] = silent.url
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REAPER_", "SLACK_"))}
    env = {**base, **aws.env(), "SLACK_BOT_TOKEN": GOOD_BOT_TOKEN, "SLACK_APP_TOKEN": GOOD_APP_TOKEN,
           "SLACK_API_URL": slack.api_url, "REAPER_REGIONS": "us-east-1"}
    yield Ground(env, names)
    silent.stop()
    slack.stop()


def _run(case: Case, ground: Ground) -> Run:
    env = dict(ground.env)
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value.format(**ground.names)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", *case.argv], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=case.within)
    except subprocess.TimeoutExpired as late:
        return Run(None, str(late.stdout or ""), str(late.stderr or ""), time.monotonic() - started)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def runs(ground: Ground) -> Iterator[dict[str, Future[Run]]]:
    # The silent cases first: they wait on sockets while the quick ones share the CPU.
    ordered = sorted(CASES, key=lambda c: c.within, reverse=True)
    with ThreadPoolExecutor(max_workers=5) as pool:
        yield {case.id: pool.submit(_run, case, ground) for case in ordered}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_start_is_one_line_naming_the_cause(case: Case, ground: Ground, runs: dict[str, Future[Run]]) -> None:
    run = runs[case.id].result()

    assert run.returncode is not None, f"still running after {case.within:g} s: {run.stderr[-500:]}"
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for expected in case.says:
        assert expected.format(**ground.names) in lines[0]
    assert run.returncode == case.code
    assert run.seconds < case.within
