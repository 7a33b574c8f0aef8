"""No one acts without the right: signed clicks that must change nothing, counted at the AWS boundary.

Every click here is correctly signed (it comes from Slack), so the edge lets it in; what
refuses it is the bot's own authorization: the installation check at the ack, the
approvers list and the decision record in the lazy work, and the instance re-check right
before StopInstances. Effects are counted at the moto server: DynamoDB and S3 writes,
StopInstances, and the decisions' state and sequence numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.blocks import KEEP_ACTION, STOP_ACTION
from reaper.model import DecisionState
from tests.aws import AwsEnv
from tests.e2e.aws_calls import AwsCalls
from tests.e2e.driver import Row, SlackDriver
from tests.reliability.figures import Figures

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

WRITES = ("UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "PutObject")
CLICKS = [(STOP_ACTION, 2), (KEEP_ACTION, 2), (STOP_ACTION, 1), (KEEP_ACTION, 1)]


def snapshot(aws: AwsEnv, ids: list[str]) -> dict[str, tuple[DecisionState, int]]:
    store = aws.services().store
    return {i: (d.state, d.seq) for i in ids for d in [store.get(i)]}


def ephemeral_texts(bot: SlackDriver) -> list[str]:
    return [str(c.params["text"]) for c in bot.slack.calls_to("chat.postEphemeral")]


def measure(bot: SlackDriver, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures, case: str,
            clicks: list[tuple[Row, str, int]], *, expect_ack: int = 200, told: str | None = None) -> None:
    """Click, then count effects: any write, StopInstances or change of a decision is unwanted."""
    ids = [row.decision_id for row in bot.report_rows()]
    before = snapshot(aws, ids)
    aws_calls.clear()
    statuses = []
    for row, action, version in clicks:
        opened = len(bot.slack.views)
        statuses.append(bot.click(row, action, version=version)["statusCode"])
        if action == KEEP_ACTION and len(bot.slack.views) > opened:  # Keep answers through its dialog
            assert bot.submit_keep(bot.slack.views[-1], "U0ALICE")["statusCode"] == 200
        bot.wait_for_lazy()
    after = snapshot(aws, ids)

    writes = sum(aws_calls.succeeded(op) for op in WRITES)
    stops = aws_calls.count("StopInstances")
    changed = sum(before[i] != after[i] for i in ids)
    figures.record("authorization", case, tried=len(clicks), unwanted=writes + stops + changed,
                   note=f"{stops} StopInstances, {writes} writes, {changed} decisions changed; ack {statuses[0]}")
    assert statuses == [expect_ack] * len(clicks)
    assert (stops, writes, changed) == (0, 0, 0), aws_calls.operations
    if told is not None:
        assert sum(told in t for t in ephemeral_texts(bot)) == len(clicks), ephemeral_texts(bot)


Setup = Callable[[SlackDriver, AwsEnv, pytest.MonkeyPatch], None]


def _configure(name: str, value: str) -> Setup:
    def setup(_bot: SlackDriver, _aws: AwsEnv, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(name, value)

    return setup


INSTALLATION = {
    "from another workspace (team id)": _configure("SLACK_TEAM_ID", "T0SOMEONEELSE"),
    "from another Slack app (api_app_id)": _configure("SLACK_APP_ID", "A0SOMEONEELSE"),
}


@pytest.mark.parametrize("case", sorted(INSTALLATION))
def test_a_click_from_another_installation_is_refused_at_the_ack(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, monkeypatch: pytest.MonkeyPatch,
    figures: Figures, case: str,
) -> None:
    INSTALLATION[case](bot, aws, monkeypatch)  # the app reads its settings once, at its first request
    bot.scheduled()
    row = bot.report_rows()[0]

    measure(bot, aws, aws_calls, figures, case, [(row, a, v) for a, v in CLICKS], expect_ack=403)

    assert not bot.lam.invocations


def test_a_click_by_someone_not_an_approver_changes_nothing(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    monkeypatch.setenv("REAPER_APPROVERS", "U0BOB")
    bot.scheduled()
    row = bot.report_rows()[0]

    measure(bot, aws, aws_calls, figures, "not an approver", [(row, a, v) for a, v in CLICKS],
            told="not one of the approvers")


def test_a_button_value_from_another_message_changes_nothing(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    bot.scheduled()
    first, second = bot.report_rows()
    elsewhere = copy.deepcopy(first.message)
    elsewhere.ts = "1699999999.000100"
    moved = Row(second.decision_id, elsewhere)

    measure(bot, aws, aws_calls, figures, "button value from another message", [(moved, a, v) for a, v in CLICKS],
            told="does not belong to this message")


def test_a_button_value_never_issued_changes_nothing(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    bot.scheduled()
    row = bot.report_rows()[0]
    forged = Row("d-never-issued-0000000000", row.message)

    measure(bot, aws, aws_calls, figures, "button value never issued", [(forged, a, v) for a, v in CLICKS],
            told="This report row is unknown")


def test_an_expired_row_changes_nothing(
    bot: SlackDriver, fleet, aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    bot.scheduled()
    row = bot.report_rows()[0]
    store = aws.services().store
    live = store.get(row.decision_id)
    store.add_rows([replace(live, expires_at=live.created_at - timedelta(seconds=1))])  # the same row, expired

    measure(bot, aws, aws_calls, figures, "expired report row", [(row, a, v) for a, v in CLICKS],
            told="expired")


def test_an_instance_tagged_exempt_since_the_report_is_not_stopped(
    bot: SlackDriver, fleet: dict[str, str], aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    bot.scheduled()
    rows = bot.report_rows()
    store = aws.services().store
    ec2 = aws.client("ec2")
    for row in rows:
        ec2.create_tags(Resources=[store.get(row.decision_id).instance_id],
                        Tags=[{"Key": "reaper:exempt", "Value": "true"}])
    aws_calls.clear()

    for row, version in zip(rows, (2, 1), strict=True):
        bot.click(row, STOP_ACTION, version=version)
        bot.wait_for_lazy()

    decided = [store.get(row.decision_id) for row in rows]
    states = [instance_state(aws, d.instance_id) for d in decided]
    stops = aws_calls.count("StopInstances")
    not_running = sum(s != "running" for s in states)
    wrong_state = sum(d.state is not DecisionState.SKIPPED for d in decided)
    figures.record("authorization", "tags changed since the report (now reaper:exempt)", tried=len(rows),
                   unwanted=stops + not_running + wrong_state,
                   note=f"{stops} StopInstances; the re-check records each row as skipped (tagged reaper:exempt)")
    assert stops == 0 and states == ["running"] * len(rows)
    assert all(d.state is DecisionState.SKIPPED and "reaper:exempt" in (d.reason or "") for d in decided), decided


def test_a_stale_row_of_an_instance_busy_since_the_report_is_not_stopped(
    bot: SlackDriver, fleet: dict[str, str], aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    bot.scheduled()
    rows = bot.report_rows()
    store = aws.services().store
    busy_at = datetime.now(UTC)
    for row in rows:  # since the report, each instance has been at work (CPU 81 % on average today)
        busy_at = aws.busy_now(store.get(row.decision_id).instance_id, cpu=81.0)
    aws_calls.clear()

    for row, version in zip(rows, (2, 1), strict=True):
        bot.click(row, STOP_ACTION, version=version)
        bot.wait_for_lazy()

    decided = [store.get(row.decision_id) for row in rows]
    reason = f"busy since the report (CPU 81 % on {busy_at.day} {busy_at:%b})"
    stops = aws_calls.count("StopInstances")
    not_running = sum(instance_state(aws, d.instance_id) != "running" for d in decided)
    wrong = sum(d.state is not DecisionState.SKIPPED or d.reason != reason for d in decided)
    shown = sum(f"Not stopped: {reason}; asked by" in row_status(bot, row) for row in rows)
    figures.record("authorization", "stale row: instance busy since the report", tried=len(rows),
                   unwanted=stops + not_running + wrong + len(rows) - shown,
                   note=f"{stops} StopInstances, {aws_calls.count('GetMetricData')} GetMetricData (one a click); "
                        f"each row reads: Not stopped: {reason}")
    assert stops == 0 and not_running == 0 and wrong == 0, decided
    assert aws_calls.count("GetMetricData") == len(rows) and shown == len(rows)


def test_a_stale_row_of_an_instance_restarted_or_retyped_since_the_report_is_not_stopped(
    bot: SlackDriver, fleet: dict[str, str], aws: AwsEnv, aws_calls: AwsCalls, figures: Figures
) -> None:
    # Idle instances have run for days: launched a moment before the restart, a restart within the
    # second EC2 reports LaunchTime to would look like the same launch (and did, on a fast machine).
    for instance_id in fleet.values():
        aws.launched_at(instance_id, datetime.now(UTC) - timedelta(days=14))
    bot.scheduled()
    restarted, retyped = bot.report_rows()
    store = aws.services().store
    ec2 = aws.client("ec2")
    for row, new_type in ((restarted, None), (retyped, "m5.4xlarge")):
        instance_id = store.get(row.decision_id).instance_id
        ec2.stop_instances(InstanceIds=[instance_id])
        if new_type:
            ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": new_type})
        aws.started_again(instance_id, at=datetime.now(UTC))
    aws_calls.clear()

    for row in (restarted, retyped):
        bot.click(row, STOP_ACTION)
        bot.wait_for_lazy()

    decided = [store.get(row.decision_id) for row in (restarted, retyped)]
    reasons = [d.reason or "" for d in decided]
    stops = aws_calls.count("StopInstances")
    expected = ("restarted since the report", "its type changed since the report (")
    wrong = sum(d.state is not DecisionState.SKIPPED for d in decided) + sum(
        not r.startswith(e) for r, e in zip(reasons, expected, strict=True))
    figures.record("authorization", "stale row: instance restarted or its type changed since the report",
                   tried=2, unwanted=stops + wrong,
                   note=f"{stops} StopInstances; recorded skipped: {'; '.join(reasons)}")
    assert stops == 0 and wrong == 0, reasons


def instance_state(aws: AwsEnv, instance_id: str) -> str:
    found = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(found["Reservations"][0]["Instances"][0]["State"]["Name"])


def row_status(bot: SlackDriver, row: Row) -> str:
    block = next(b for b in bot.slack.message(row.message.channel, row.message.ts).blocks
                 if b.get("block_id") == f"act:{row.decision_id}")
    return str(block)
