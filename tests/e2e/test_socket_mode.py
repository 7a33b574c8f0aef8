"""`python -m bot` in Socket Mode: a slash-command envelope is acked over the websocket and a report posted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.slack import FakeSlack
from testkit.slack_requests import load_event
from tests.aws import AwsEnv
from tests.e2e.conftest import BOT_TOKEN
from tests.fakes.socket_mode import FakeSocketMode

ROOT = Path(__file__).resolve().parents[2]
# Only a bound on a hang: `python -m bot` imports Bolt, boto3 and Powertools before it connects,
# which takes seconds on a busy machine.
START_UP = 120.0


def wait_until_connected(process: subprocess.Popen[bytes], server: FakeSocketMode, log: Path) -> None:
    """Wait for the app's websocket connection, failing at once if the process exits first."""
    deadline = time.monotonic() + START_UP
    while not server.connected.wait(0.5):
        if process.poll() is not None:
            raise AssertionError(f"python -m bot exited {process.returncode} before connecting:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"python -m bot did not connect within {START_UP:.0f} s:\n{log.read_text()}")


@pytest.fixture
def socket_mode(slack: FakeSlack) -> Iterator[FakeSocketMode]:
    server = FakeSocketMode().start()
    slack.socket_url = server.url
    yield server
    server.stop()


@pytest.fixture
def bot_process(
    aws: AwsEnv, slack: FakeSlack, socket_mode: FakeSocketMode, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    aws.init()
    env = {
        **os.environ,
        "SLACK_APP_TOKEN": "xapp-1-test",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "REAPER_REGIONS": "us-east-1",
        "REAPER_POST_INTERVAL": "0",
    }
    env.pop("SLACK_SIGNING_SECRET", None)
    log = (tmp_path / "bot.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield process
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)
    log.close()


def test_python_m_bot_acks_a_slash_command_envelope_and_posts_the_report(
    bot_process, slack: FakeSlack, socket_mode: FakeSocketMode, fleet: dict[str, str], tmp_path: Path
):
    payload = load_event("slash_command.json")
    payload.update(text="scan", channel_id="C0LOCAL", response_url=slack.response_url())
    envelope = {"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
                "payload": payload}

    wait_until_connected(bot_process, socket_mode, tmp_path / "bot.log")
    socket_mode.send(envelope)

    ack = socket_mode.wait_for_ack("env-1")
    assert ack["payload"]["text"].startswith(":mag: Scanning us-east-1")
    post = slack.wait_for(lambda: slack.calls_to("chat.postMessage"), what="the report's chat.postMessage")[0]
    assert post.params["channel"] == "C0LOCAL"
    assert fleet["dev-alice-sandbox"] in str(post.params["blocks"])
    assert slack.calls_to("apps.connections.open")[0].headers["authorization"] == "Bearer xapp-1-test"
    assert [c.headers["authorization"] for c in slack.calls_to("auth.test")] == [f"Bearer {BOT_TOKEN}"]
    log = (tmp_path / "bot.log").read_text()
    assert "connected to Slack in Socket Mode" in log
    assert "will be unused" not in log and "will be ignored" not in log  # Bolt's warnings about a second token


def test_python_m_bot_at_debug_does_not_log_the_tokens_it_reads_from_secrets_manager(aws: AwsEnv):
    aws.client("secretsmanager").create_secret(
        Name="instance-reaper/socket", SecretString=json.dumps({"SLACK_BOT_TOKEN": BOT_TOKEN}))
    env = {**os.environ, "REAPER_LOG_LEVEL": "DEBUG", "REAPER_SLACK_SECRET": "instance-reaper/socket"}
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(name, None)

    # The secret holds no app-level token, so the bot stops right after reading it; that it
    # complains about SLACK_APP_TOKEN and not SLACK_BOT_TOKEN shows the secret was read.
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=START_UP)

    assert done.returncode == 2 and "SLACK_APP_TOKEN" in done.stderr
    assert BOT_TOKEN not in done.stdout + done.stderr
