"""Money in Slack, end to end: the report's costs (the fake Price List), a Stop's saving, `/reaper savings`."""

from __future__ import annotations

import json

from demo.pricelist import PriceListServer
from reaper.money import HOURS_PER_MONTH
from tests.aws import AwsEnv
from tests.e2e.driver import SlackDriver

# The demo catalogue, Windows (moto's demo AMI): m5.xlarge and t3.large in us-east-1.
M5_SAVES = (0.192 + 4 * 0.046) * HOURS_PER_MONTH
T3_SAVES = (0.0832 + 2 * 0.0092) * HOURS_PER_MONTH


def _section_texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_the_report_says_what_burns_what_a_stop_saves_and_puts_the_money_first(
    bot: SlackDriver, fleet: dict[str, str]
) -> None:
    bot.scheduled()

    [post] = bot.slack.calls_to("chat.postMessage")
    blocks = post.params["blocks"]
    summary, *rows = _section_texts(blocks)
    assert f"stopping them saves ~${M5_SAVES + T3_SAVES:,.0f}/month (EBS and IPv4 keep costing ~$8.90)" in summary
    assert "Nothing saved yet" in summary
    assert fleet["staging-reports"] in rows[0] and fleet["dev-alice-sandbox"] in rows[1]  # m5.xlarge saves more
    assert f"a Stop saves ~${M5_SAVES:,.0f}/month" in rows[0] and f"a Stop saves ~${T3_SAVES:,.0f}/month" in rows[1]
    assert json.dumps(blocks).count("before discounts and Savings Plans") == 1
    confirm = [b for b in blocks if b["type"] == "actions"][0]["elements"][0]["confirm"]["text"]["text"]
    assert f"Stopping it saves ~${M5_SAVES:,.0f}/month (list price)." in confirm


def test_a_second_report_the_same_week_asks_the_price_list_nothing(
    bot: SlackDriver, fleet: dict[str, str], price_list: PriceListServer
) -> None:
    bot.scheduled()
    asked = price_list.count()

    bot.scheduled()

    # two instance types, gp2, public IPv4 in use and idle: five keys, then all from the cache in DynamoDB
    assert asked == 5 and price_list.count() == asked


def test_savings_answers_privately_with_the_stop_its_approver_and_the_months_figure(
    bot: SlackDriver, fleet: dict[str, str], aws: AwsEnv
) -> None:
    bot.scheduled()
    row = bot.report_rows()[0]
    bot.click(row, user="U0ALICE")
    bot.wait_for_lazy()

    bot.command("savings")
    bot.wait_for_lazy()
    bot.scheduled()

    [reply] = [c.params for c in bot.slack.calls if c.method.startswith("response_url")]
    assert reply["response_type"] == "ephemeral"
    text = json.dumps(reply["blocks"])
    assert "Stops: 1, still stopped: 1" in text and "<@U0ALICE>: ~$" in text
    latest = bot.slack.calls_to("chat.postMessage")[-1].params["blocks"]
    assert "Stops have saved ~$" in _section_texts(latest)[0]
    assert aws.services().store.get(row.decision_id).hourly_saving is not None


def test_the_usage_names_savings(driver: SlackDriver) -> None:
    response = driver.command("help")

    assert "/reaper savings" in json.dumps(json.loads(response["body"])["blocks"])
