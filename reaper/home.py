"""What one person's App Home shows: the policy in force, open rows, their own instances, recent decisions.

A use case over the ports, for any front end: the Slack adapter renders it (bot.home). The
person's own instances are the running ones whose owner tag (REAPER_OWNER_TAGS, reaper.owners)
names them, by Slack id or e-mail, as the rule for who may click reads it; listing them reads
every region's inventory, so this is slow work (a lazy listener). A region whose inventory
cannot be read is named in `errors` and the rest still shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from reaper import schedule
from reaper.errors import ReaperError
from reaper.model import Decision, DecisionState, Instance
from reaper.owners import Clicker, owner_of
from reaper.ports import Services
from reaper.settings import IdlePolicy

OPEN_ROWS = 20  # open rows shown (the count says how many there are)
OWN_INSTANCES = 20
RECENT = 10


@dataclass(frozen=True)
class Home:
    user: str
    policy: IdlePolicy
    regions: tuple[str, ...]
    keep_days: int
    row_days: int
    schedule: str | None  # REAPER_REPORT_SCHEDULE (None: not set)
    next_report: datetime | None  # None: no schedule, or one whose next run is not computed
    open_rows: tuple[Decision, ...]  # pending and unexpired, newest first, at most OPEN_ROWS
    open_total: int
    own: tuple[Instance, ...]  # running instances the user owns, at most OWN_INSTANCES
    own_total: int
    recent: tuple[Decision, ...]
    errors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def offered(self, instance: Instance) -> bool:
        """Whether one of the open rows offers this instance."""
        return any(d.instance_id == instance.instance_id and d.region == instance.region for d in self.open_rows)


def home(services: Services, person: Clicker) -> Home:
    settings, now = services.settings, services.clock()
    user = person.user_id
    # Report rows (a CLI decision in progress has no message and is nobody's to answer; an owner's
    # DM copy of a channel row is that row again).
    pending = [d for d in services.store.in_state(DecisionState.PENDING)
               if d.expires_at > now and d.channel and d.message_ts and d.copy_of is None]
    pending.sort(key=lambda d: d.created_at, reverse=True)
    own: list[Instance] = []
    errors: dict[str, str] = {}
    for region in settings.regions:
        try:
            for page in services.ec2(region).running_pages():
                own.extend(i for i in page if person.owns(owner_of(i.tags, settings.owner_tags)))
        except ReaperError as error:
            errors[region] = str(error)
    own.sort(key=lambda i: (i.region, i.name, i.instance_id))
    expression = settings.report_schedule
    return Home(
        user=user,
        policy=settings.policy,
        regions=settings.regions,
        keep_days=settings.keep_days,
        row_days=settings.row_days,
        schedule=expression,
        next_report=schedule.next_run(expression, now) if expression else None,
        open_rows=tuple(pending[:OPEN_ROWS]),
        open_total=len(pending),
        own=tuple(own[:OWN_INSTANCES]),
        own_total=len(own),
        recent=tuple(services.store.recent(RECENT)),
        errors=MappingProxyType(errors),
    )
