"""Who owns an instance, as its tags say: the first owner tag present, read as written.

The tag keys come from REAPER_OWNER_TAGS (issue 14, part 1); DEFAULT_OWNER_TAGS is its
default. The value is returned raw (a Slack user id, an e-mail address, a name): what it
resolves to is the caller's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DEFAULT_OWNER_TAGS = ("Owner", "owner", "CreatedBy", "Contact", "Email")


def owner_of(tags: Mapping[str, str], keys: Sequence[str] = DEFAULT_OWNER_TAGS) -> str | None:
    """The value of the first of `keys` the instance is tagged with, stripped; None when none has a value."""
    for key in keys:
        value = (tags.get(key) or "").strip()
        if value:
            return value
    return None
