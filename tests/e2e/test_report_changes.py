"""A daily report that says what changed, end to end: two scheduled reports, one live row per instance."""

from __future__ import annotations

from reaper.model import DecisionState
from tests.aws import AwsEnv
from tests.e2e.driver import CHANNEL, SlackDriver
from tests.e2e.test_report_and_clicks import ephemerals, instance_state


def test_a_second_report_closes_the_first_reports_rows_and_points_them_at_itself(
    bot: SlackDriver, fleet: dict[str, str], aws: AwsEnv
):
    bot.scheduled()
    first = {r.decision_id: r for r in bot.report_rows()}
    [first_message] = {r.message.ts for r in first.values()}

    result = bot.scheduled()

    assert result["ok"] and result["idle"] == 2
    [second_ts] = result["messages"]
    services = aws.services()
    newer = [r for r in bot.report_rows() if r.message.ts == second_ts]
    assert len(newer) == 2
    for decision_id in first:
        old = services.store.get(decision_id)
        assert old.state is DecisionState.SUPERSEDED
        assert old.superseded_by in {r.decision_id for r in newer}
    for row in newer:
        decision = services.store.get(row.decision_id)
        assert (decision.state, decision.reports) == (DecisionState.PENDING, 2)
    # The first message kept its text and rows, lost every button, and links the second.
    blocks = bot.slack.message(CHANNEL, first_message).blocks
    assert not [b for b in blocks if b["type"] == "actions"]
    link = f"https://reaper-test.slack.com/archives/{CHANNEL}/p{second_ts.replace('.', '')}"
    closed = [b for b in blocks if str(b.get("block_id", "")).startswith("act:")]
    assert len(closed) == 2
    assert all(f"<{link}|the newer report>" in b["elements"][0]["text"] for b in closed)
    assert fleet["dev-alice-sandbox"] in str(blocks)  # an update, never an erase
    # The second report says the two are still idle, and nothing is new.
    second = bot.slack.message(CHANNEL, second_ts)
    assert second.text.startswith("0 new, 2 still idle.")
    assert "Still idle (2)" in str(second.blocks) and "2nd report in a row" in str(second.blocks)


def test_a_click_on_a_superseded_row_is_refused_politely_with_a_link_to_the_newer_report(
    bot: SlackDriver, fleet: dict[str, str], aws: AwsEnv
):
    bot.scheduled()
    old_row = bot.report_rows()[0]
    result = bot.scheduled()
    [second_ts] = result["messages"]

    response = bot.click(old_row, user="U0ALICE")
    bot.wait_for_lazy()

    assert response["statusCode"] == 200
    [told] = ephemerals(bot.slack, "U0ALICE")
    assert "A newer report offers this instance again" in told
    assert f"p{second_ts.replace('.', '')}|Open the newer report>" in told
    decision = aws.services().store.get(old_row.decision_id)
    assert decision.state is DecisionState.SUPERSEDED
    assert instance_state(aws, decision.instance_id) == "running"
