"""Names resolved elsewhere and remembered through the Cache port: what the adapter looked up once.

The Slack adapter turns an owner's e-mail into a Slack user (users.lookupByEmail); the answer
is the same tomorrow for nearly every address, so it is kept in the shared cache
(reaper.ports.Cache, the decisions table) and a daily report asks Slack about each address at
most once a day. The core knows nothing of Slack: it takes the question as a function.

`ask` answers a name, or None when the other side knows no such name (remembered too, for a
shorter while: an address nobody has today may be a new hire's tomorrow). When `ask` raises
LookupFailed the name is unknown this time and nothing is remembered, so the next run asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

from reaper.errors import ReaperError
from reaper.ports import Services


class LookupFailed(ReaperError):
    """The other side could not answer now (an outage, a rate limit, a missing scope)."""


def look_up(
    services: Services,
    kind: str,
    names: Iterable[str],
    ask: Callable[[str], str | None],
    *,
    found_for: timedelta,
    missing_for: timedelta,
) -> dict[str, str | None]:
    """Name → answer (None: nobody by that name) for each distinct name that could be answered.

    Names absent from the result could not be looked up (LookupFailed). Each distinct name not
    in the cache is asked once; `kind` keeps one sort of look-up apart from another in the cache.
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}
    keys = {f"{kind}#{name}": name for name in wanted}
    cached = services.cache.get_many(list(keys)) if services.cache is not None else {}
    answers: dict[str, str | None] = {}
    for key, entry in cached.items():
        if isinstance(entry, dict) and key in keys:
            value = entry.get("answer")
            answers[keys[key]] = str(value) if value is not None else None
    found: dict[str, dict[str, str | None]] = {}
    missing: dict[str, dict[str, str | None]] = {}
    for key, name in keys.items():
        if name in answers:
            continue
        try:
            answer = ask(name)
        except LookupFailed:
            continue
        answers[name] = answer
        (found if answer is not None else missing)[key] = {"answer": answer}
    if services.cache is not None:
        services.cache.put_many(found, found_for)
        services.cache.put_many(missing, missing_for)
    return answers
