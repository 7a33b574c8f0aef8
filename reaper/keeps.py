"""How long a Keep lasts, and the `reaper:keep-until` tag that mirrors it on the instance.

A Keep lasts 1, 7 (REAPER_KEEP_DAYS by default) or 30 days from the click, or until the end
of a chosen UTC day, never more than MAX_KEEP_DAYS ahead. It is mirrored to the instance as
`reaper:keep-until=YYYY-MM-DD` so the console and other tools see it, and a scan honours the
tag even when no Keep was recorded (someone wrote it by hand): an instance is kept through
the end of that UTC day. A past date is ignored, and so is a value that is not a date, with a
note on the row saying so. The key is read in any case, as IAM reads tag keys (the README's
"The exempt tag"); the reaper itself writes it only in lower case, the one spelling its role
may create (infra/template.yaml, MirrorKeepsToOneTag).

Pure functions only: the ack path (the Keep dialog's validation) may call them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

KEEP_TAG = "reaper:keep-until"
KEEP_CHOICES = (1, 7, 30)  # days a Keep dialog offers besides "until a date" (7: REAPER_KEEP_DAYS by default)
MAX_KEEP_DAYS = 365
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def end_of(day: date) -> datetime:
    """The last second of a UTC day: a Keep "until 5 Jan" holds all of 5 Jan."""
    return datetime.combine(day, time(23, 59, 59), UTC)


def keep_until(now: datetime, *, days: int | None = None, until: date | None = None, default_days: int = 7) -> datetime:
    """When a Keep asked for now ends: `until`'s last second, else `days` (or the default) from now.

    ValueError, with a sentence for people, for a day in the past or beyond MAX_KEEP_DAYS.
    """
    if until is not None:
        problem = date_problem(until, now)
        if problem is not None:
            raise ValueError(problem)
        return end_of(until)
    length = days or default_days
    if not 1 <= length <= MAX_KEEP_DAYS:
        raise ValueError(f"A Keep lasts from 1 to {MAX_KEEP_DAYS} days, not {length}.")
    return now + timedelta(days=length)


def date_problem(day: date, now: datetime) -> str | None:
    """Why a Keep cannot end on `day` (None: it can): today is the earliest, a year ahead the latest."""
    today = now.astimezone(UTC).date()
    if day < today:
        return f"{day.isoformat()} is in the past: pick today or a later day."
    if day > today + timedelta(days=MAX_KEEP_DAYS):
        latest = today + timedelta(days=MAX_KEEP_DAYS)
        return f"A Keep lasts at most {MAX_KEEP_DAYS} days: pick {latest.isoformat()} or an earlier day."
    return None


def tag_value(until: datetime) -> str:
    """The tag's value for a Keep ending at `until`: its UTC day."""
    return until.astimezone(UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class KeepTag:
    """What an instance's reaper:keep-until tags say: the latest valid day, and why any value was ignored."""

    until: date | None = None
    note: str | None = None

    def keeps(self, today: date) -> bool:
        """Kept through the end of the tag's day; a past day keeps nothing."""
        return self.until is not None and self.until >= today


def read_tag(tags: Mapping[str, str]) -> KeepTag:
    """The reaper:keep-until tag in any spelling of its key; with several, the latest valid day wins."""
    wanted = KEEP_TAG.casefold()
    days: list[date] = []
    ignored: list[str] = []
    for key, value in tags.items():
        if key.casefold() != wanted:
            continue
        day = _day(value)
        if day is None:
            ignored.append(value)
        else:
            days.append(day)
    note = None
    if ignored:
        note = f"{KEEP_TAG} {ignored[0][:40]!r} ignored: not a date (YYYY-MM-DD)"
    return KeepTag(max(days) if days else None, note)


def _day(value: str) -> date | None:
    text = value.strip()
    if not _ISO_DAY.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return None
