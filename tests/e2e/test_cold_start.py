"""The Lambda init phase does what the first request would otherwise pay for, and SnapStart's restore hook is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.emulator import FAKE_CREDENTIALS
from testkit.slack_requests import SIGNING_SECRET
from tests.fakes.lambda_invoke import FakeLambda

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh process, as Lambda's init phase would: import the handler module, then ack one
# signed /reaper scan with botocore forbidden to create any client.
SCRIPT = """
import json, random, sys
import botocore.session

import bot.handler as handler
from snapshot_restore_py import get_after_restore
from testkit.lambda_context import FakeLambdaContext
from testkit.slack_requests import api_gateway_event, command_body

runner = handler._bot().adapter.app.listener_runner.lazy_listener_runner
found = {
    "client_at_init": runner.lambda_client is not None,
    "imported_at_init": sorted(m for m in ("reaper.decisions", "reaper.scan", "reaper.sweep", "bot.report")
                               if m in sys.modules),
    "after_restore": [f.__name__ for f, *_ in get_after_restore()],
}

def no_new_clients(*args, **kwargs):
    raise AssertionError("a client was created on the ack path")

botocore.session.Session.create_client = no_new_clients
response = handler.lambda_handler(api_gateway_event(command_body("scan")), FakeLambdaContext())
found["first_status"] = response["statusCode"]

random.seed(7)
replayed = random.random()
random.seed(7)
handler.after_restore()
found["reseeded"] = random.random() != replayed
print(json.dumps(found))
"""


@pytest.fixture
def invoked() -> Iterator[FakeLambda]:
    fake = FakeLambda(lambda _event, _context: None).start()
    yield fake
    fake.stop()


def test_the_init_phase_prepares_the_first_request_and_registers_the_restore_hook(invoked: FakeLambda) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REAPER_", "SLACK_"))},
        "PYTHONPATH": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "instance-reaper", "AWS_REGION": "us-east-1",
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing may reach AWS during the ack
        "AWS_ENDPOINT_URL_LAMBDA": invoked.url,
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": "http://127.0.0.1:9/",
        "POWERTOOLS_METRICS_NAMESPACE": "InstanceReaper",
    }

    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)

    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found == {
        "client_at_init": True,
        "imported_at_init": ["bot.report", "reaper.decisions", "reaper.scan", "reaper.sweep"],
        "after_restore": ["after_restore"],
        "first_status": 200,
        "reseeded": True,
    }
    invoked.wait()
    assert len(invoked.invocations) == 1  # the ack's lazy listener, through the client built at init
