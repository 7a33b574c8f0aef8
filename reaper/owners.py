"""Who owns an instance, and who may answer its report row.

The owner is the value of the first of REAPER_OWNER_TAGS the instance carries (keys matched
exactly: EC2 keeps `Owner` and `owner` as two tags, so the default list names both). The core
carries only that value; what it means in Slack (a user id, an e-mail to look up, a name) is
the Slack adapter's business (bot/owners.py).

Who may decide (`refusal`): an approver, always; the instance's owner may Keep their own,
and Stop it too when REAPER_OWNERS_MAY_STOP is on. The adapter says who the clicker is (their
Slack id, their e-mail, and why they are not an approver, if they are not); the rule is here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_OWNER_TAGS = ("Owner", "owner", "CreatedBy", "Contact", "Email")


def owner_of(tags: Mapping[str, str], keys: Sequence[str] = DEFAULT_OWNER_TAGS) -> str | None:
    """The first non-blank value among `keys`, trimmed; None when the instance names no owner."""
    for key in keys:
        value = (tags.get(key) or "").strip()
        if value:
            return value
    return None


class Action(StrEnum):
    STOP = "stop"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Clicker:
    """A person answering a row, as the adapter knows them.

    `not_approver` is why they are not an approver (None: they are one); `email` is their
    address when the adapter could find it (an owner tag may name them by e-mail).
    """

    user_id: str
    not_approver: str | None = None
    email: str | None = None

    def owns(self, owner: str | None) -> bool:
        """Whether the owner tag names this person: their user id exactly, or their e-mail in any case."""
        if not owner:
            return False
        if owner == self.user_id:
            return True
        return self.email is not None and owner.strip().casefold() == self.email.strip().casefold()


def refusal(clicker: Clicker, owner: str | None, action: Action, *, owners_may_stop: bool) -> str | None:
    """Why `clicker` may not `action` this row (None: they may), in a sentence for them alone."""
    if clicker.not_approver is None:
        return None
    if clicker.owns(owner):
        if action is Action.KEEP or owners_may_stop:
            return None
        return ("You own this instance, but owners may only Keep their own here (REAPER_OWNERS_MAY_STOP is off), "
                "so nothing was changed. Ask an approver to stop it.")
    return _not_owner(clicker.not_approver)


_CONCLUSION = ", so nothing was changed."


def _not_owner(sentence: str) -> str:
    """The adapter's sentence with the owner rule before its conclusion ("…, nor this instance's owner, so
    nothing was changed."); a sentence of another shape (a failed group look-up) is left as it is."""
    if not sentence.endswith(_CONCLUSION):
        return sentence
    return f"{sentence.removesuffix(_CONCLUSION)}, nor this instance's owner{_CONCLUSION}"
