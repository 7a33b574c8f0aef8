"""Owners in Slack: an owner tag value as a Slack user, the clicker as the core's Clicker, and owners' DMs.

An owner tag value that is a Slack user id (U…/W…) is that user. An e-mail is looked up with
users.lookupByEmail (scope users:read.email) through reaper.directory, which remembers each
answer in the shared cache: a found user for EMAIL_FOUND_FOR, an address Slack does not know
for EMAIL_MISSING_FOR. A look-up that fails (rate limit, missing scope, outage) leaves that
owner shown as text and is asked again next time. Anything else is a name, shown as text.

A day, because a daily report then asks Slack about each address about once per report, and
because what changes an answer (someone joins, leaves or changes address) is rare and a day
late is harmless: a mention of a deactivated user still renders, and a DM to them fails alone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.approvers import Approvers
from reaper import directory
from reaper.owners import Clicker
from reaper.ports import Services

log = logging.getLogger(__name__)

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
EMAIL = re.compile(r"^[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+$")
EMAIL_FOUND_FOR = timedelta(days=1)
EMAIL_MISSING_FOR = timedelta(hours=6)
LOOKUP_KIND = "slack-user-by-email"
# users.lookupByEmail's answer for an address no member of the workspace has.
_NOT_FOUND = "users_not_found"


def is_email(value: str) -> bool:
    return bool(EMAIL.match(value.strip()))


def resolve(client: Any, services: Services, owners: Iterable[str | None]) -> dict[str, str]:
    """Owner tag value → Slack user id, for the owners Slack knows (at most one look-up per address)."""
    values = {o for o in owners if o}
    users = {o: o for o in values if USER_ID.match(o)}
    addresses = {o: o.strip().lower() for o in values if o not in users and is_email(o)}
    if not addresses:
        return users

    def ask(address: str) -> str | None:
        try:
            response = client.users_lookupByEmail(email=address)
        except SlackApiError as error:
            if error.response.get("error") == _NOT_FOUND:
                return None
            log.warning("users.lookupByEmail failed (%s): the owner is shown as text", error.response.get("error"))
            raise directory.LookupFailed(str(error.response.get("error"))) from error
        except Exception as error:  # a network error: shown as text, asked again next time
            log.warning("users.lookupByEmail failed (%s): the owner is shown as text", type(error).__name__)
            raise directory.LookupFailed(type(error).__name__) from error
        user_id = str((response.get("user") or {}).get("id") or "")
        return user_id or None

    found = directory.look_up(services, LOOKUP_KIND, addresses.values(), ask,
                              found_for=EMAIL_FOUND_FOR, missing_for=EMAIL_MISSING_FOR)
    for value, address in addresses.items():
        user = found.get(address)
        if user:
            users[value] = user
    return users


def clicker(approvers: Approvers, client: Any, user_id: str) -> Clicker:
    """Who clicked, for the core's rule: whether they are an approver, and if not, their e-mail
    (users.info, scope users:read.email), since an owner tag may name them by it."""
    not_approver = approvers.check(client, user_id)
    return Clicker(user_id, not_approver, email_of(client, user_id) if not_approver is not None else None)


def email_of(client: Any, user_id: str) -> str | None:
    """The person's e-mail from users.info, or None (then only a tag naming their user id makes them the owner)."""
    try:
        profile = (client.users_info(user=user_id).get("user") or {}).get("profile") or {}
    except Exception as error:
        log.warning("users.info for %s failed (%s)", user_id, type(error).__name__)
        return None
    return str(profile.get("email") or "") or None


def by_owner(owners: Mapping[str, str], values: Iterable[tuple[str | None, Any]]) -> dict[str, list[Any]]:
    """Group items by the Slack user their owner tag value resolved to (unresolved owners left out)."""
    grouped: dict[str, list[Any]] = {}
    for owner, item in values:
        user = owners.get(owner) if owner else None
        if user:
            grouped.setdefault(user, []).append(item)
    return grouped
