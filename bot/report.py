"""Posting a scan report: rows offered (ids known), message posted, rows recorded with its channel and ts,
then the instances' older rows closed and their buttons replaced by a link to the new report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks import (
    ROWS_PER_MESSAGE,
    grace_announcement,
    owner_message,
    report_messages,
    status_text,
    with_statuses,
    without_buttons,
)
from bot.errors import BotError
from bot.owners import by_owner
from bot.owners import resolve as resolve_owners
from reaper import changes as report_changes
from reaper import decisions, grace
from reaper.model import Decision, ScanReport
from reaper.ports import Services

log = logging.getLogger(__name__)


class ReportNotRecorded(BotError):
    """A report message was posted but its rows could not be stored; its buttons were removed."""


class NotInChannel(BotError):
    """Slack refused the report's first message: the bot has not been invited to the channel."""


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str
    rows: int


def post_report(
    client: Any,
    services: Services,
    channel: str,
    report: ScanReport,
    *,
    interval: float = 1.0,
    per_message: int = ROWS_PER_MESSAGE,
    sleep: Callable[[float], None] = time.sleep,
    notify_owners: bool = False,
) -> list[Posted]:
    """Post the report to `channel`; rows beyond the first message continue as thread replies.

    Buttons carry only the id of a row that `propose` created; the rows are recorded once
    the message's channel and ts are known, so a click can be matched to its message.
    Thread replies are spaced by `interval` seconds (chat.postMessage allows about one
    message per second per channel: https://api.slack.com/methods/chat.postMessage#rate_limiting).
    """
    changes = report_changes.what_changed(services, report)
    proposed = changes.order(report.proposed)
    owners = resolve_owners(client, services, [f.owner for f in proposed])
    rows = changes.carry(decisions.propose(services, proposed, channel=None, message_ts=None), proposed)
    # Grace-period stops (issue 15, part 4): the rows that reach their count carry a deadline,
    # which their row states in the message that records them; the thread then lists them.
    plan = grace.schedule(services, list(zip(proposed, rows, strict=True)))
    pairs = list(zip(proposed, plan.rows, strict=True))
    messages = report_messages(report, pairs, services.clock(), per_message=per_message, owners=owners,
                               changes=changes)
    recorded: list[Decision] = []
    posted: list[Posted] = []
    thread_ts: str | None = None
    for number, message in enumerate(messages):
        if number:
            sleep(interval)
        try:
            response = client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            # Private channels the bot is not in look like channels that do not exist.
            if not number and error.response.get("error") in ("not_in_channel", "channel_not_found"):
                raise NotInChannel(f"the bot is not a member of channel {channel}: invite it with /invite") from error
            raise
        where, ts = str(response["channel"]), str(response["ts"])
        thread_ts = thread_ts or ts
        offered = pairs[number * per_message : (number + 1) * per_message]
        chunk = [replace(d, channel=where, message_ts=ts) for _, d in offered]
        if chunk:
            try:
                decisions.record_rows(services, chunk)
            except Exception as error:
                log.exception("report rows for message %s could not be recorded", ts)
                note = (
                    f"These rows could not be recorded ({type(error).__name__}), so the buttons were removed. "
                    "Run `/reaper scan` again."
                )
                stripped = without_buttons(message.blocks, note)
                client.chat_update(channel=where, ts=ts, text=message.text, blocks=stripped)
                raise ReportNotRecorded(f"rows of message {ts} not recorded: {type(error).__name__}") from error
            recorded.extend(chunk)
        posted.append(Posted(where, ts, len(chunk)))
    if posted and (plan.announced or plan.refused):
        _announce(client, posted[0], plan, report.dry_run, services.clock(), sleep, interval)
    close_older_rows(client, services, changes, recorded)
    if notify_owners:
        originals = {(d.account, d.region, d.instance_id): d.id for d in recorded}
        posted += notify_owners_of(client, services, report, owners, channel=channel, per_message=per_message,
                                   originals=originals)
    return posted


def notify_owners_of(
    client: Any, services: Services, report: ScanReport, owners: dict[str, str], *, channel: str | None,
    per_message: int = ROWS_PER_MESSAGE, originals: Mapping[tuple[str | None, str, str], str] | None = None,
) -> list[Posted]:
    """One direct message to each owner Slack knows, with their own idle instances and the same buttons.

    Each DM row is a report row of its own (a button is tied to its message), so a Keep in the DM
    and a Stop in the channel are answered as two clicks on one instance are: the Stop's re-check
    finds the Keep. A DM that cannot be sent is logged and the others still go (the channel has it all).
    """
    posted: list[Posted] = []
    for user, findings in by_owner(owners, [(f.owner, f) for f in report.proposed]).items():
        shown = findings[:per_message]
        # Each DM row names the channel row it repeats (`originals`): a copy, not another report.
        rows = [replace(d, copy_of=(originals or {}).get((d.account, d.region, d.instance_id)))
                for d in decisions.propose(services, shown, channel=None, message_ts=None)]
        pairs = list(zip(shown, rows, strict=True))
        message = owner_message(pairs, services.clock(), channel=channel, more=len(findings) - len(shown),
                                owners=owners, dry_run=report.dry_run)
        try:
            # Posting to a user id opens (or reuses) the app's DM with them; Slack answers with its channel.
            response = client.chat_postMessage(channel=user, text=message.text, blocks=message.blocks,
                                               unfurl_links=False, unfurl_media=False)
        except Exception:
            log.exception("the direct message to owner %s could not be sent", user)
            continue
        where, ts = str(response["channel"]), str(response["ts"])
        try:
            decisions.record_rows(services, [replace(d, channel=where, message_ts=ts) for d in rows])
        except Exception as error:  # as for the channel report: no button whose row is not recorded
            log.exception("the rows of the direct message to owner %s could not be recorded", user)
            note = f"These rows could not be recorded ({type(error).__name__}); the channel report has them."
            try:
                client.chat_update(channel=where, ts=ts, text=message.text,
                                   blocks=without_buttons(message.blocks, note))
            except Exception:
                log.exception("the buttons of the direct message to owner %s could not be removed", user)
            continue
        posted.append(Posted(where, ts, len(rows)))
    return posted


def close_older_rows(client: Any, services: Services, changes: report_changes.Changes, rows: list[Decision]) -> None:
    """One live row per instance: close the older rows these recorded rows replace (the core's
    conditional writes), then show on each older message a link to the newer report instead of
    their buttons. A message that cannot be read or updated is logged and left: a click on it
    is refused by the store anyway, with the same pointer."""
    closed = report_changes.supersede(services, changes, rows).closed
    if not closed:
        return
    newer = {row.id: row for row in rows}
    links: dict[tuple[str, str], str] = {}
    by_message: dict[tuple[str, str], dict[str, str]] = {}
    for old in closed:
        row = newer.get(old.superseded_by or "")
        if not (old.channel and old.message_ts and row and row.channel and row.message_ts):
            continue
        where = (row.channel, row.message_ts)
        if where not in links:
            links[where] = permalink(client, *where)
        text = status_text(old, newer_link=links[where])
        if text is not None:
            by_message.setdefault((old.channel, old.message_ts), {})[old.id] = text
    show_statuses(client, by_message, after="a newer report")


def show_statuses(client: Any, by_message: Mapping[tuple[str, str], Mapping[str, str]], *, after: str) -> int:
    """Write each row's status (row id → text) on its report message; how many messages were updated.

    Slack has no partial update, so each message is read back and updated whole. One that cannot
    be read or updated, or that has no blocks (an update with blocks=[] would erase it), is logged
    and left: its buttons are refused on click anyway, since its records are no longer pending.
    `after` names what changed them, for the log.
    """
    updated = 0
    for (channel, ts), statuses in by_message.items():
        try:
            message = read_message(client, channel, ts)
            blocks = list((message or {}).get("blocks") or [])
            if message is None or not blocks:
                log.warning("report message %s/%s not found or empty after %s; its rows stay as they are",
                            channel, ts, after)
                continue
            client.chat_update(channel=channel, ts=ts, text=str(message.get("text") or "Idle EC2 instances"),
                               blocks=with_statuses(blocks, dict(statuses)))
            updated += 1
        except Exception:
            log.exception("could not update report message %s/%s after %s", channel, ts, after)
    return updated


def read_message(client: Any, channel: str, ts: str) -> dict[str, Any] | None:
    """One message, read back: from the channel's history, or from its thread when it is a reply."""
    history = client.conversations_history(channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1)
    for message in history.get("messages") or []:
        if message.get("ts") == ts:
            return dict(message)
    # A thread reply: Slack puts the thread's parent first, whatever the window, so ask for two.
    replies = client.conversations_replies(channel=channel, ts=ts, latest=ts, oldest=ts, inclusive=True, limit=2)
    for message in replies.get("messages") or []:
        if message.get("ts") == ts:
            return dict(message)
    return None


def permalink(client: Any, channel: str, ts: str) -> str:
    """The message's permalink from chat.getPermalink, or the archive link Slack resolves for members."""
    try:
        link = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
        if link:
            return str(link)
    except Exception:
        log.warning("chat.getPermalink failed for %s/%s; linking the archive URL", channel, ts, exc_info=True)
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _announce(client: Any, first: Posted, plan: grace.Schedule, dry_run: bool, now: datetime,
              sleep: Callable[[float], None], interval: float) -> None:
    """The grace-period announcement in the report's thread. Its rows already say it, so a failure is logged."""
    message = grace_announcement(plan.announced, plan.refused, now, dry_run=dry_run)
    sleep(interval)
    try:
        client.chat_postMessage(channel=first.channel, thread_ts=first.ts, text=message.text, blocks=message.blocks,
                                unfurl_links=False, unfurl_media=False)
    except Exception:
        log.exception("grace-period announcement not posted in the thread of %s; the rows say it", first.ts)
