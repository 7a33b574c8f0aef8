"""Who may click Stop or Keep: REAPER_APPROVERS user ids and user groups (resolved, cached briefly)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.config import SlackConfig

log = logging.getLogger(__name__)


class Approvers:
    """Unset REAPER_APPROVERS means anyone who can see the report may decide.

    User groups (S…) are expanded with usergroups.users.list and cached for
    `group_cache_seconds`; when a look-up fails the group grants nothing (deny, never guess).
    """

    def __init__(self, config: SlackConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.users = config.approver_users
        self.groups = config.approver_groups
        self.ttl = config.group_cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    @property
    def anyone(self) -> bool:
        return not self.users and not self.groups

    def check(self, client: Any, user_id: str) -> str | None:
        """None when the user may decide, else the reason to show them."""
        if self.anyone or user_id in self.users:
            return None
        failed = False
        for group in sorted(self.groups):
            members = self._group(client, group)
            if members is None:
                failed = True
            elif user_id in members:
                return None
        if failed:
            return "I could not check the approvers group right now, so I did not act. Try again in a minute."
        return "You are not one of the approvers for this report (REAPER_APPROVERS), so nothing was changed."

    def _group(self, client: Any, group: str) -> frozenset[str] | None:
        now = self._clock()
        with self._lock:
            cached = self._members.get(group)
        if cached and cached[0] > now:
            return cached[1]
        try:
            response = client.usergroups_users_list(usergroup=group)
            members = frozenset(str(u) for u in response.get("users") or [])
        except Exception as error:  # SlackApiError, network errors: deny rather than guess
            log.warning("usergroups.users.list for %s failed: %s", group, type(error).__name__)
            return None
        with self._lock:
            self._members[group] = (now + self.ttl, members)
        return members
