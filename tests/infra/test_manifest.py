"""slack/manifest.yaml: the Home tab and its event reach the function (tests/e2e/test_app_home.py answers them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yaml"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return data


def test_the_home_tab_is_on_and_app_home_opened_reaches_the_function(manifest: dict[str, Any]) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["bot_events"] == ["app_home_opened"]
    # One endpoint for everything Slack sends: the Lambda's POST /slack/events.
    assert events["request_url"] == manifest["settings"]["interactivity"]["request_url"]
    assert events["request_url"].endswith("/slack/events")

