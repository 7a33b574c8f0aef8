"""The App Home tab as Block Kit: a pure rendering of reaper.home.Home for views.publish.

A Home tab holds at most 100 blocks (https://api.slack.com/reference/surfaces/views); each
list here is one section of at most 3000 characters, cut with a count of what was left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.blocks import MAX_TEXT, clip, day, escape, status_message
from reaper.home import Home
from reaper.model import Decision

Block = dict[str, Any]
MAX_HOME_BLOCKS = 100


def home_view(home: Home, *, approver: bool, links: Mapping[str, str]) -> dict[str, Any]:
    """The view for `home.user`; `links` maps an open row's decision id to its report message's permalink."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Instance Reaper", "emoji": True}},
        _section(policy_text(home)),
        _context(":white_check_mark: You are an approver: you may Stop or Keep the rows of a report."
                 if approver else
                 ":information_source: You are not an approver: the rows of a report are answered by approvers."),
        {"type": "divider"},
        _section(open_rows_text(home, links)),
    ]
    if home.own_total:
        blocks += [{"type": "divider"}, _section(own_text(home))]
    if home.errors:
        failed = "; ".join(f"{region}: {escape(error)}" for region, error in sorted(home.errors.items()))
        blocks.append(_context(f":warning: Your instances could not be listed in {clip(failed, 2500)}"))
    blocks += [{"type": "divider"}, *status_message(list(home.recent)).blocks]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def policy_text(home: Home) -> str:
    p = home.policy
    if home.next_report is not None:
        upcoming = f"{day(home.next_report.date())} at {home.next_report:%H:%M} UTC"
    elif home.schedule:
        upcoming = f"on the schedule `{escape(home.schedule)}`"
    else:
        upcoming = "not scheduled here (`/reaper scan` reports on demand)"
    return "\n".join([
        "*The policy in force*",
        f"• Idle: on each of at least {p.min_days} of the last {p.lookback_days} days, average CPU ≤ "
        f"{p.cpu_percent:g} %, peak CPU ≤ {p.cpu_peak_percent:g} % and network ≤ {p.network_mb:g} MB",
        f"• Regions: {', '.join(home.regions)}",
        f"• Keep hides an instance for {home.keep_days} days; a report's buttons stay valid {home.row_days} days",
        f"• Next report: {upcoming}",
    ])


def open_rows_text(home: Home, links: Mapping[str, str]) -> str:
    title = f"*Open rows awaiting an answer ({home.open_total})*"
    if not home.open_total:
        return f"{title}\nNone: every row offered has been answered or has expired."
    lines = [_row_line(d, links.get(d.id)) for d in home.open_rows]
    return _list(title, lines, home.open_total)


def own_text(home: Home) -> str:
    lines = []
    for instance in home.own:
        name = f" {escape(instance.name)}" if instance.name else ""
        offered = " · :hourglass: offered for stopping, awaiting an answer" if home.offered(instance) else ""
        kind = escape(instance.instance_type)
        lines.append(f"• `{instance.instance_id}`{name} · {kind} · {instance.region}{offered}")
    return _list(f"*Your running instances ({home.own_total})*", lines, home.own_total)


def _row_line(decision: Decision, link: str | None) -> str:
    name = f" {escape(decision.name)}" if decision.name else ""
    where = f" · <{link}|in the report>" if link else ""
    expires = f"until {day(decision.expires_at.date())}"
    return f"• `{decision.instance_id}`{name} · {decision.region} · offered {day(decision.created_at.date())}, " \
           f"open {expires}{where}"


def _list(title: str, lines: Sequence[str], total: int) -> str:
    text, shown = title, 0
    for line in lines:
        if len(text) + len(line) + 40 > MAX_TEXT:
            break
        text, shown = f"{text}\n{line}", shown + 1
    if total > shown:
        text += f"\n… and {total - shown} more"
    return text


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}

