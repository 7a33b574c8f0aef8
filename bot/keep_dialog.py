"""The Keep dialog: a modal opened by the Keep button (action id keep_instance), answered on submission.

Slack lets a click open a modal only with its trigger_id, which expires 3 seconds after the
click (https://api.slack.com/interactivity/handling#modal_responses), so the dialog is opened
on the ack path: pure rendering plus one views.open, no AWS (building an EC2 client alone takes
~0.5 s). The dialog carries the row it answers in its private_metadata; the submission's ack
checks the form (a day in the past is refused in the dialog itself), and the Keep is done in the
lazy listener by the core (reaper.decisions.keep), which also decides whether the clicker may.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.blocks import Block, clip
from reaper.keeps import KEEP_CHOICES, date_problem

CALLBACK_ID = "keep_dialog"
LENGTH = "keep_length"  # block id and action id of the radio buttons
UNTIL = "keep_until"  # the date picker
REASON = "keep_reason"
UNTIL_A_DATE = "date"
MAX_REASON = 200


@dataclass(frozen=True)
class KeepRequest:
    """A submitted dialog: which row, who, and for how long (`days`, or `until` a day) and why."""

    decision_id: str
    channel: str
    ts: str
    had_message: bool
    user: str
    days: int | None
    until: date | None
    reason: str | None


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def view(*, decision_id: str, channel: str, ts: str, had_message: bool, default_days: int, what: str) -> Block:
    """The modal for one row; `what` names the instance as its row does (mrkdwn)."""
    choices = sorted({*KEEP_CHOICES, default_days})
    options = [_option(str(n), _days(n) + (" (default)" if n == default_days else "")) for n in choices]
    options.append(_option(UNTIL_A_DATE, "Until a date"))
    default = next(o for o in options if o["value"] == str(default_days))
    metadata = json.dumps({"d": decision_id, "c": channel, "t": ts, "m": had_message})
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": metadata,
        "title": _plain("Keep this instance", 24),
        "submit": _plain("Keep", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(
                f"Keep {what} running and out of the reports until the Keep ends.", 3000)}},
            {"type": "input", "block_id": LENGTH, "label": _plain("For how long"),
             "element": {"type": "radio_buttons", "action_id": LENGTH, "options": options,
                         "initial_option": default}},
            {"type": "input", "block_id": UNTIL, "optional": True, "label": _plain("Until (with “Until a date”)"),
             "element": {"type": "datepicker", "action_id": UNTIL, "placeholder": _plain("Pick a day")}},
            {"type": "input", "block_id": REASON, "optional": True, "label": _plain("Reason (shown on the report)"),
             "element": {"type": "plain_text_input", "action_id": REASON, "max_length": MAX_REASON}},
        ],
    }


def request(body: dict[str, Any]) -> KeepRequest:
    """What a view_submission payload asks for (ValueError when it is not this dialog's)."""
    submitted = body.get("view") or {}
    meta = json.loads(submitted.get("private_metadata") or "{}")
    values = (submitted.get("state") or {}).get("values") or {}
    length = str(((values.get(LENGTH) or {}).get(LENGTH) or {}).get("selected_option", {}).get("value") or "")
    picked = ((values.get(UNTIL) or {}).get(UNTIL) or {}).get("selected_date")
    reason = ((values.get(REASON) or {}).get(REASON) or {}).get("value")
    until = date.fromisoformat(str(picked)) if picked else None
    days = None if length == UNTIL_A_DATE else int(length) if length.isdigit() else None
    return KeepRequest(
        decision_id=str(meta.get("d") or ""), channel=str(meta.get("c") or ""), ts=str(meta.get("t") or ""),
        had_message=bool(meta.get("m")), user=str((body.get("user") or {}).get("id") or ""),
        days=days, until=until if length == UNTIL_A_DATE else None,
        reason=(str(reason).strip()[:MAX_REASON] or None) if reason else None,
    )


def form_errors(body: dict[str, Any], now: datetime) -> dict[str, str]:
    """Block id → what to fix, shown in the dialog by Slack (empty: the form can be submitted)."""
    try:
        keep = request(body)
    except ValueError:
        return {UNTIL: "That is not a day."}
    length = str(((((body.get("view") or {}).get("state") or {}).get("values") or {}).get(LENGTH) or {})
                 .get(LENGTH, {}).get("selected_option", {}).get("value") or "")
    if length == UNTIL_A_DATE:
        if keep.until is None:
            return {UNTIL: "Pick the day the Keep ends."}
        problem = date_problem(keep.until, now)
        if problem is not None:
            return {UNTIL: problem}
    elif keep.days is None:
        return {LENGTH: "Choose how long to keep it."}
    return {}
