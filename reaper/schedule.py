"""When the next scheduled report runs, from its EventBridge schedule expression (REAPER_REPORT_SCHEDULE).

EventBridge runs the report (infra/template.yaml, ReportSchedule); the App Home tells people
when it comes next. `cron(Minutes Hours Day-of-month Month Day-of-week Year)` in UTC, as
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
defines it: `*` and `?` (any), numbers, names (JAN-DEC, SUN-SAT), ranges `a-b`, lists `a,b`
and steps `a/n`, `*/n`. Day-of-week counts 1 = SUN to 7 = SAT. The forms this module does not
compute (`L`, `W`, `#`) and `rate(...)` (whose runs count from the rule's creation, which the
function cannot see) have no computed next run: None, and the App Home shows the expression.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

_CRON = re.compile(r"^cron\((.+)\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                                       "NOV", "DEC"), start=1)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
# (lowest, highest, names) of each cron field, in order.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {}),
)
HORIZON_DAYS = 5 * 366  # a run further away than this is "not known"


def is_schedule(expression: str) -> bool:
    """Whether `expression` has the shape of an EventBridge schedule: cron( six fields ) or rate( n unit )."""
    cron = _CRON.match(expression.strip())
    return bool(_RATE.match(expression.strip())) or (cron is not None and len(cron.group(1).split()) == 6)


def next_run(expression: str, after: datetime) -> datetime | None:
    """The first run strictly after `after` (UTC), or None when it cannot be computed (see the module)."""
    cron = _CRON.match(expression.strip())
    if cron is None:
        return None
    fields = cron.group(1).split()
    if len(fields) != 6:
        return None
    try:
        minutes, hours, days, months, weekdays, years = (
            _values(text, *spec) for text, spec in zip(fields, _FIELDS, strict=True)
        )
    except ValueError:
        return None
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for offset in range(HORIZON_DAYS):
        day = start.date() + timedelta(days=offset)
        weekday = (day.weekday() + 1) % 7 + 1  # Python's Monday 0 … Sunday 6 → EventBridge's SUN 1 … SAT 7
        if not (day.year in years and day.month in months and day.day in days and weekday in weekdays):
            continue
        earliest = start.time() if offset == 0 else time(0)
        for hour in sorted(hours):
            for minute in sorted(minutes):
                if time(hour, minute) >= earliest:
                    return datetime.combine(day, time(hour, minute), tzinfo=after.tzinfo)
    return None


def _values(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The values one cron field allows; ValueError for what this module does not compute."""
    if text in ("*", "?"):
        return set(range(low, high + 1))
    allowed: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(part)
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _one(a, names), _one(b, names)
        else:
            first = _one(base, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high):
            raise ValueError(part)
        allowed.update(range(first, last + 1, step))
    return allowed


def _one(text: str, names: dict[str, int]) -> int:
    return names[text.upper()] if text.upper() in names else int(text)
