"""Block Kit rendering as pure functions: reports, row statuses, usage and status replies.

Slack limits respected here: at most 50 blocks per message, 3000 characters per section
text, 75 per button label, 300 per confirm-dialog text
(https://api.slack.com/reference/block-kit/blocks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, assert_never

from bot import digest
from reaper.changes import Changes
from reaper.model import (
    HIBERNATED,
    NOT_HIBERNATED,
    Decision,
    DecisionState,
    Finding,
    Instance,
    Outcome,
    Result,
    ScanReport,
)
from reaper.money import HOURS_PER_MONTH, LIST_PRICE_NOTE, Savings, headline, savings_line, totals, usd

STOP_ACTION = "stop_instance"
KEEP_ACTION = "keep_instance"

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_CONFIRM = 300  # a confirm dialog's text
ROWS_PER_MESSAGE = 20  # two blocks a row: 40 row blocks plus at most 5 heading blocks < 50

_ROW_PREFIX = "row:"
_ACTIONS_PREFIX = "act:"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")

Block = dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One Slack message: notification text plus blocks."""

    text: str
    blocks: list[Block]


# -- small helpers ---------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control (so tags cannot @channel)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def who(actor: str | None) -> str:
    """A Slack mention for a user id, the plain name otherwise (e.g. a CLI user)."""
    if not actor:
        return "someone"
    return f"<@{actor}>" if _USER_ID.match(actor) else escape(actor)


def clock(at: datetime) -> str:
    return f"{at:%H:%M} UTC"


def day(at: date) -> str:
    return f"{at.day} {at:%b}"


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": clip(text)}


def _plain(text: str, limit: int = 150) -> Block:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _context(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "context", "elements": [_mrkdwn(text)]}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def _number(value: float | None, unit: str, digits: int = 1) -> str:
    return "no data" if value is None else f"{value:.{digits}f}{unit}"


# -- the report ------------------------------------------------------------------------------


def summary_text(report: ScanReport) -> str:
    """The report's totals, over the regions actually scanned (a failed region is never counted)."""
    where = ", ".join(report.scanned_regions)
    if not report.findings:
        return f"*No running instances* in {where}: nothing to judge."
    lines = [f"*{len(report.proposed)} idle* of {len(report.findings)} running instances in {where}"]
    if report.shards:  # many accounts (issue 15)
        accounts = len({shard.split("/")[0] for shard in report.shards})
        scanned = len([s for s in report.shards if s not in report.errors])
        lines[0] += f" of {accounts} accounts ({scanned} of {len(report.shards)} account-regions scanned)"
    skipped = report.skipped_by_reason()
    if skipped:
        parts = [f"{n} {reason.text}" for reason, n in sorted(skipped.items(), key=lambda kv: kv[0].value)]
        lines.append(f"Idle but not offered: {'; '.join(parts)}")
    if report.insufficient:
        lines.append(f"Not enough data yet: {len(report.insufficient)}")
    if report.priced:
        lines.append(f":moneybag: {headline(totals([f.cost for f in report.proposed]))}")
    if report.savings is not None:
        lines.append(savings_line(report.savings))
    return "\n".join(lines)


def owner_text(owner: str | None, users: Mapping[str, str] | None = None) -> str:
    """The owner as a row shows it: a Slack user id (or an e-mail `users` resolved to one) as a
    mention, anything else as escaped text; "" when there is none."""
    if not owner:
        return ""
    user = owner if _USER_ID.match(owner) else (users or {}).get(owner)
    return f"<@{user}>" if user else escape(owner)


def account_text(inst: Instance) -> str:
    """Many accounts (issue 15): "account <name> (<id>) · " for a member account's instance; "" in one account."""
    if inst.account is None:
        return ""
    if inst.account_name:
        return f"account {escape(inst.account_name)} ({inst.account}) · "
    return f"account {inst.account} · "


def row_blocks(
    finding: Finding, decision: Decision, now: datetime, owners: Mapping[str, str] | None = None, *,
    dry_run: bool = False, cpu_limit: float | None = None,
) -> list[Block]:
    """A section describing the instance and an actions block whose buttons carry only the decision id.

    The section says why: the daily CPU it was judged on (a sparkline scaled to `cpu_limit`),
    its peak day, and, for a row offered before, how long it has been idle (bot.digest).

    Only a finding offered for stopping gets a row: the Stop dialog states what stopping it
    keeps, which is true only of what eligibility let through. `owners` maps owner tag values
    to the Slack users they were resolved to (bot.owners). In a dry run every row says so.
    """
    if not finding.proposed:
        raise ValueError(f"{finding.instance.instance_id} is not offered for stopping: it gets no Stop button")
    inst, ev = finding.instance, finding.verdict.evidence
    age_days = max(0, (now - inst.launch_time).days)
    title = f"*`{inst.instance_id}`*" + (f" {escape(inst.name)}" if inst.name else "")
    peak = _number(ev.peak_cpu_percent, " %") + (f" on {day(ev.peak_cpu_day)}" if ev.peak_cpu_day else "")
    facts = [
        f"{escape(inst.instance_type)} · {account_text(inst)}{inst.region} · {age_days} days old"
        + (f" · owner {owner_text(finding.owner, owners)}" if finding.owner else ""),
        f"Idle {ev.days_observed} days · CPU avg {_number(ev.average_cpu_percent, ' %')}, peak {peak}"
        f" · network {_number(ev.network_mb_per_day, ' MB/day')}",
        *([why] if (why := digest.why_text(ev, cpu_limit)) else []),
        *([history] if (history := digest.history_text(decision, now)) else []),
        *([cost_text(finding)] if finding.cost is not None else []),  # none when prices are off
        *([HIBERNATE_NOTE] if inst.hibernation_configured else []),
        *([DRY_RUN_ROW] if dry_run else []),
        *([f":alarm_clock: {auto_stop_text(decision, now, dry_run=dry_run)}"] if decision.auto_stop_at else []),
        # Not asked within the scan's time budget (issue 20): Stop asks EC2 before anything stops.
        *([f":grey_question: {finding.caveat} (Stop checks it first)"] if finding.caveat else []),
        *[f":memo: {escape(note)}" for note in finding.notes],
    ]
    section: Block = {
        "type": "section",
        "block_id": _ROW_PREFIX + decision.id,
        "text": _mrkdwn("\n".join([title, *facts])),
    }
    return [section, actions_block(decision, inst.instance_id, inst.name,
                                   hibernate=inst.hibernation_configured, dry_run=dry_run)]


# What a stop keeps and loses, for an instance that eligibility offered: one with EBS
# volumes only (an instance-store root or a type with instance-store disks is never
# offered: reaper.eligibility), so every volume it has, and its data, stays.
STOP_CONSEQUENCES = "It has EBS volumes only: they and their data stay. What is in its memory is lost."
HIBERNATE_CONSEQUENCES = ("It has EBS volumes only: they and their data stay, and its memory is saved to its "
                          "root volume.")
HIBERNATE_NOTE = ":sleeping: Hibernation is configured: Stop hibernates it (a plain stop if EC2 refuses)"
DRY_RUN_ROW = ":test_tube: DRY RUN: Stop only asks EC2 whether it would work (DryRun=True); nothing is stopped"
DRY_RUN_HEADER = ("DRY RUN (REAPER_DRY_RUN=true): a Stop is sent to EC2 with DryRun=True, which proves it would work, "
                  "and is recorded as \"would stop\"; no instance is stopped.")
def cost_text(finding: Finding) -> str:
    """What the row costs a month, what a Stop saves, what keeps costing; "unknown" where no price was found."""
    cost = finding.cost
    if cost is None:
        return ""
    monthly, saving, residual = cost.monthly, cost.saving_monthly, cost.residual_monthly
    parts = [f"Costs ~{usd(monthly)}/month" if monthly is not None else "Cost unknown",
             f"a Stop saves ~{usd(saving)}/month" if saving is not None else "what a Stop saves is unknown"]
    if residual:
        parts.append(f"EBS and IPv4 keep costing ~{usd(residual)}")
    elif residual is None:
        parts.append("what keeps costing is unknown")
    return " · ".join(parts)


def _saving_note(decision: Decision) -> str:
    if decision.hourly_saving is None:
        return ""
    return f" Stopping it saves ~{usd(decision.hourly_saving * HOURS_PER_MONTH)}/month (list price)."


def actions_block(
    decision: Decision, instance_id: str, name: str = "", *, hibernate: bool = False, dry_run: bool = False
) -> Block:
    label = f"{instance_id} ({name})" if name else instance_id
    if hibernate:
        consequences = f" will be hibernated (not terminated). {HIBERNATE_CONSEQUENCES}{_saving_note(decision)}"
    else:
        consequences = f" will be stopped (not terminated). {STOP_CONSEQUENCES}{_saving_note(decision)}"
    if dry_run:
        consequences = " (DRY RUN: EC2 only checks it would work; nothing is stopped)"
    confirm = clip(label, MAX_CONFIRM - len(consequences)) + consequences  # a long name never cuts the facts
    return {
        "type": "actions",
        "block_id": _ACTIONS_PREFIX + decision.id,
        "elements": [
            {
                "type": "button",
                "action_id": STOP_ACTION,
                "text": _plain("Stop (dry run)" if dry_run else "Stop", 75),
                "style": "danger",
                "value": decision.id,
                "confirm": {
                    "title": _plain("Stop this instance?", 100),
                    "text": _plain(confirm, MAX_CONFIRM),
                    "confirm": _plain("Stop it", 30),
                    "deny": _plain("Cancel", 30),
                    "style": "danger",
                },
            },
            {
                "type": "button",
                "action_id": KEEP_ACTION,
                "text": _plain("Keep", 75),
                "value": decision.id,
            },
        ],
    }


def report_failed(what: str) -> Message:
    """What the report channel reads when no report could be made: what failed, and that it will be retried."""
    text = (f":warning: *Today's idle-instance report could not be made:* {escape(clip(what, 2000))}. "
            "Nothing was offered or stopped; the next scheduled run will try again.")
    return Message(f"The idle-instance report could not be made: {clip(what, 200)}", [
        {"type": "section", "text": _mrkdwn(text)},
    ])


def report_messages(
    report: ScanReport, rows: Sequence[tuple[Finding, Decision]], now: datetime, *, per_message: int = ROWS_PER_MESSAGE,
    owners: Mapping[str, str] | None = None,
    changes: Changes | None = None,
) -> list[Message]:
    """The report as a first message and, when long, thread replies of `per_message` rows each.

    Regions that were not scanned come first, before any total, in the blocks and in the
    notification text. With `changes` (reaper.changes), what is new follows the totals in
    their section (and comes first in the notification text), then what became of the last
    report's rows, and the rows are grouped: new first, then still idle
    (`rows` must come in that order: Changes.order).
    """
    head: list[Block] = [{"type": "header", "text": _plain("Idle EC2 instances" + (" (DRY RUN)" if report.dry_run
                                                                                    else ""))}]
    if report.dry_run:
        head.append(_context(f":test_tube: {DRY_RUN_HEADER}"))
    if report.errors:
        failed = "\n".join(f"• {region}: {escape(error)}" for region, error in sorted(report.errors.items()))
        head.append({"type": "section", "text": _mrkdwn(f":warning: *Not scanned:*\n{failed}")})
    new = sum(1 for finding, _ in rows if changes is not None and changes.is_new(finding))
    changed = f"\n{digest.headline(changes, new, len(rows) - new)}" if changes is not None else ""
    head.append({"type": "section", "text": _mrkdwn(summary_text(report) + changed)})
    if report.priced:
        head.append(_context(LIST_PRICE_NOTE))
    where = ", ".join(report.scanned_regions)
    fallback = ("DRY RUN. " if report.dry_run else "") + (
        f"Not scanned: {', '.join(sorted(report.errors))}. " if report.errors else "") + (
        f"{new} new, {len(rows) - new} still idle. " if changes is not None and rows else "") + (
        f"{len(report.proposed)} idle of {len(report.findings)} instances in {where}" if report.findings
        else f"No running instances in {where}")
    cpu_limit = report.policy.cpu_percent if report.policy else None
    group: bool | None = None  # the group of the last row rendered (new or not)
    if not rows:
        if report.findings:
            head.append(_context(":sparkles: Nothing idle. Every running instance is earning its keep."))
        return [Message(fallback, head)]
    chunks = [rows[i : i + per_message] for i in range(0, len(rows), per_message)]
    messages: list[Message] = []
    for number, chunk in enumerate(chunks, start=1):
        dry = " (DRY RUN)" if report.dry_run else ""
        blocks = list(head) if number == 1 else [
            _context(f"Idle EC2 instances{dry}, continued ({number}/{len(chunks)})")]
        for finding, decision in chunk:
            if changes is not None and changes.is_new(finding) is not group:
                group = changes.is_new(finding)
                blocks.append(_context(digest.group_heading(group, new if group else len(rows) - new)))
            blocks.extend(row_blocks(finding, decision, now, owners, dry_run=report.dry_run, cpu_limit=cpu_limit))
        if number == 1 and len(chunks) > 1:
            blocks.append(_context(f"{len(rows) - len(chunk)} more in the thread :thread:"))
        messages.append(Message(fallback if number == 1 else f"Idle EC2 instances{dry} ({number}/{len(chunks)})",
                                blocks))
    return messages


# -- the grace-period stop (issue 15, part 4) --------------------------------------------------


def auto_stop_text(decision: Decision, now: datetime, *, dry_run: bool = False) -> str:
    """"Unanswered in 3 reports: will be stopped at 09:00 UTC tomorrow unless someone presses Keep"."""
    at = decision.auto_stop_at
    if at is None:
        return ""
    when = "tomorrow" if (at.date() - now.date()).days == 1 else ("today" if at.date() == now.date() else
                                                                   f"on {day(at)}")
    what = "would be stopped (DRY RUN: nothing is stopped)" if dry_run else "will be stopped"
    return (f"Unanswered in {decision.unanswered} reports: {what} at {clock(at)} {when} "
            "unless someone presses Keep")


def grace_announcement(
    announced: Sequence[Decision], refused: Sequence[tuple[Decision, str]], now: datetime, *, dry_run: bool = False
) -> Message:
    """The report thread's list of grace-period stops, and of those the grace period would not announce."""
    lines = []
    if announced:
        lines.append(":alarm_clock: *Grace-period stop*" + (" (DRY RUN)" if dry_run else "")
                     + ": nobody answered these in their last reports.")
        lines += [f"• `{d.instance_id}`" + (f" {escape(d.name)}" if d.name else "") + f" {d.region}: "
                  f"{auto_stop_text(d, now, dry_run=dry_run)}" for d in announced]
    if refused:
        lines.append("Not announced, though unanswered as often:")
        lines += [f"• `{d.instance_id}`" + (f" {escape(d.name)}" if d.name else "") + f": {escape(why)}"
                  for d, why in refused]
    text = f"Grace-period stop: {len(announced)} instance(s) announced" + (" (DRY RUN)" if dry_run else "")
    blocks: list[Block] = []
    chunk = ""
    for line in lines:  # one section per 3000 characters
        if chunk and len(chunk) + len(line) + 1 > MAX_TEXT:
            blocks.append({"type": "section", "text": _mrkdwn(chunk)})
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    blocks.append({"type": "section", "text": _mrkdwn(chunk)})
    return Message(text, blocks[:MAX_BLOCKS])


# -- row status ------------------------------------------------------------------------------


def stopping_text(actor: str | None, *, dry_run: bool = False) -> str:
    if dry_run:
        return f":hourglass_flowing_sand: DRY RUN: asking EC2 whether the stop would work… requested by {who(actor)}"
    return f":hourglass_flowing_sand: Stopping… requested by {who(actor)}"


def status_text(decision: Decision, *, newer_link: str | None = None) -> str | None:
    """What a row shows once someone acted on it; None while it is still pending.

    `newer_link` is where a superseded row's instance is offered now (a message permalink).
    """
    actor = who(decision.actor)
    reason = escape(decision.reason or "")
    match decision.state:
        case DecisionState.PENDING:
            return None
        case DecisionState.STOPPING:
            return stopping_text(decision.actor)
        case DecisionState.STOPPED:
            at = f" at {clock(decision.decided_at)}" if decision.decided_at else ""
            if decision.last_event == HIBERNATED:
                return f":sleeping: Hibernated by {actor}{at} (its memory is saved; a start resumes it)"
            if decision.last_event == NOT_HIBERNATED:
                return f":black_square_for_stop: Stopped by {actor}{at}; {reason}"
            return f":black_square_for_stop: Stopped by {actor}{at}"
        case DecisionState.KEPT:
            until = decision.keep_until
            return (f":shield: Kept by {actor}" + (f" until {day(until)}" if until else "")
                    + (f" — {reason}" if reason else ""))
        case DecisionState.SKIPPED:
            # The reason is the core's bare reason ("tagged reaper:exempt"), often with its own
            # parenthesis ("busy since the report (CPU 81 % on 3 Dec)"): the actor comes after it.
            return f":information_source: Not stopped: {reason or 'skipped'}; asked by {actor}"
        case DecisionState.FAILED:
            return f":x: Stop failed: {reason or 'unknown error'}; asked by {actor}"
        case DecisionState.EXPIRED:
            return ":zzz: This row expired; run `/reaper scan` for a fresh report"
        case DecisionState.SUPERSEDED:
            return digest.superseded_text(newer_link)
        case DecisionState.WOULD_STOP:
            return (f":test_tube: DRY RUN: would stop (EC2 confirmed it would work; nothing was stopped); "
                    f"asked by {actor}")
    assert_never(decision.state)


def reply_text(result: Result) -> str | None:
    """What only the clicker is told; None when the row's new status says it all."""
    decision = result.decision
    match result.outcome:
        case (Outcome.NOT_FOUND | Outcome.WRONG_MESSAGE | Outcome.EXPIRED | Outcome.UNCONFIRMED | Outcome.NEEDS_FORCE
              | Outcome.NOT_ALLOWED | Outcome.SUPERSEDED):
            return escape(result.message)
        case Outcome.ALREADY_DECIDED:
            assert decision is not None
            return f"Already handled by {who(decision.actor)} ({decision.state.value})."
        case Outcome.STOPPED | Outcome.SKIPPED | Outcome.FAILED | Outcome.KEPT | Outcome.WOULD_STOP:
            if decision is None or decision.state is DecisionState.STOPPING:
                return escape(result.message)  # nothing recorded, or the record is behind what happened
            return None
    assert_never(result.outcome)


def row_title(blocks: Iterable[Block], decision_id: str) -> str:
    """The first line of a row's description (its instance id and name), or "this instance"."""
    for block in blocks:
        if block.get("block_id") == _ROW_PREFIX + decision_id:
            return str((block.get("text") or {}).get("text") or "").split("\n", 1)[0] or "this instance"
    return "this instance"


def decision_ids(blocks: Iterable[Block]) -> list[str]:
    """The decision ids of a report message's rows, in order."""
    return [
        str(b["block_id"])[len(_ROW_PREFIX) :]
        for b in blocks
        if str(b.get("block_id", "")).startswith(_ROW_PREFIX)
    ]


def with_statuses(blocks: Sequence[Block], statuses: dict[str, str]) -> list[Block]:
    """The message's blocks with each listed row's actions replaced by its status line."""
    out: list[Block] = []
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block_id.startswith(_ACTIONS_PREFIX) and block_id[len(_ACTIONS_PREFIX) :] in statuses:
            out.append(_context(statuses[block_id[len(_ACTIONS_PREFIX) :]], block_id))
        else:
            out.append(block)
    return out


def without_buttons(blocks: Sequence[Block], note: str) -> list[Block]:
    """The message with every button removed and a note at the end (the rows could not be recorded)."""
    kept = [b for b in blocks if b.get("type") != "actions"]
    return [*kept[: MAX_BLOCKS - 1], _context(f":warning: {escape(note)}")]


# -- replies to /reaper ----------------------------------------------------------------------

USAGE = (
    "*`/reaper` usage*\n"
    "• `/reaper scan [region …]`: scan now and post the idle-instance report here\n"
    "• `/reaper status`: the latest decisions (who stopped or kept what, and when)\n"
    "• `/reaper savings`: what stops have saved, this month and since install, by approver\n"
    "• `/reaper help`: this message"
)


def usage(error: str | None = None) -> Message:
    blocks: list[Block] = []
    if error:
        blocks.append({"type": "section", "text": _mrkdwn(f":warning: {escape(error)}")})
    blocks.append({"type": "section", "text": _mrkdwn(USAGE)})
    return Message(error or "/reaper usage", blocks)


def status_message(decisions: Sequence[Decision]) -> Message:
    if not decisions:
        return Message("No decisions yet", [{"type": "section", "text": _mrkdwn("No decisions yet.")}])
    lines = []
    for d in decisions:
        when = d.decided_at or d.created_at
        name = f" ({escape(d.name)})" if d.name else ""
        reason = f": {escape(d.reason)}" if d.reason else ""
        lines.append(
            f"• `{d.instance_id}`{name} {d.region}: *{d.state.value}* by {who(d.actor)}"
            f" at {when:%Y-%m-%d %H:%M} UTC{reason}"
        )
    blocks: list[Block] = [{"type": "section", "text": _mrkdwn("*Latest decisions*")}]
    text = ""
    for line in lines:
        if len(text) + len(line) + 1 > MAX_TEXT:
            blocks.append({"type": "section", "text": _mrkdwn(text)})
            text = ""
        text = f"{text}\n{line}" if text else line
    if text:
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    return Message(f"Latest {len(decisions)} decisions", blocks[:MAX_BLOCKS])


def savings_message(summary: Savings) -> Message:
    """`/reaper savings`: the total since install, this month, and who approved what."""
    lines = [f"*{escape(savings_line(summary))}*"]
    if summary.stops:
        lines += [f"• Since install: ~{usd(summary.total)}", f"• This month (UTC): ~{usd(summary.this_month)}",
                  f"• Stops: {summary.stops}, still stopped: {summary.accruing}"
                  + (f", without a known price: {summary.unpriced}" if summary.unpriced else "")]
        ranked = sorted(summary.by_approver.items(), key=lambda kv: -kv[1])
        if ranked:
            lines.append("*By approver*")
            lines += [f"• {who(actor)}: ~{usd(amount)}" for actor, amount in ranked[:20]]
            if len(ranked) > 20:
                lines.append(f"… and {len(ranked) - 20} more")
    blocks: list[Block] = [{"type": "section", "text": _mrkdwn("\n".join(lines))},
                           _context(f"{LIST_PRICE_NOTE} A stop saves from the moment it is recorded until a "
                                    "report finds the instance running again.")]
    text = f"Saved ~{usd(summary.this_month)} this month, ~{usd(summary.total)} since install"
    return Message(text, blocks)


# -- an owner's direct message (issue 14) ----------------------------------------------------


def owner_message(
    rows: Sequence[tuple[Finding, Decision]], now: datetime, *, channel: str | None, more: int = 0,
    owners: Mapping[str, str] | None = None, dry_run: bool = False,
) -> Message:
    """One direct message to an owner: their own idle instances, each with the report's buttons.

    `more` counts their rows beyond what one message holds, left to the channel report.
    """
    count = len(rows) + more
    where = f" (the full report is in <#{channel}>)" if channel else ""
    intro = (f"*{count} of your instances {'is' if count == 1 else 'are'} idle*{where}. "
             "Stop what you no longer need, or Keep it for a while.")
    blocks: list[Block] = [{"type": "header", "text": _plain("Your idle EC2 instances")},
                           {"type": "section", "text": _mrkdwn(intro)}]
    for finding, decision in rows:
        blocks.extend(row_blocks(finding, decision, now, owners, dry_run=dry_run))
    if more:
        blocks.append(_context(f"{more} more of yours are in the channel report."))
    return Message(f"{count} of your EC2 instances {'is' if count == 1 else 'are'} idle", blocks)
