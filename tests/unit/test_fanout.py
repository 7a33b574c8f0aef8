"""Fan-out (issue 15) on fakes: when a report fans out, and that every message is idempotent."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from reaper import codec, fanout
from reaper.errors import AwsError
from reaper.model import Finding
from reaper.ports import Services
from reaper.scan import find_idle
from tests.fakes.accounts import FakeAccounts, member
from tests.fakes.core import HOME, FakeWorld
from tests.fakes.fanout import FakeReportRuns, FakeShardQueue

A, B, C = "111111111111", "222222222222", "333333333333"


class Org:
    def __init__(self, threshold: int = 1) -> None:
        self.accounts = FakeAccounts(FakeWorld(env={"REAPER_FANOUT_SHARDS": str(threshold)}),
                                     [member(A, "payments"), member(B), member(C)])
        self.runs, self.queue = FakeReportRuns(), FakeShardQueue()

    @property
    def services(self) -> Services:
        return replace(self.accounts.services, runs=self.runs, queue=self.queue)

    def messages(self) -> list[dict[str, str]]:
        return [dict(m) for m, _delay in self.queue.sent]


@pytest.fixture
def org() -> Org:
    return Org()


def start(org: Org) -> list[dict[str, str]]:
    shards = fanout.plan(org.services)
    assert shards is not None
    fanout.start(org.services, shards, "C1")
    return org.messages()


def test_more_shards_than_the_threshold_fan_out_one_message_each_then_a_delayed_deadline(org: Org) -> None:
    messages = start(org)

    assert [m["shard"] for m in messages[:-1]] == [f"{a}/{r}" for a in (A, B, C) for r in ("us-east-1", "eu-west-1")]
    assert messages[-1]["reaper"] == "deadline" and org.queue.sent[-1][1] == 900
    assert all(delay == 0 for _m, delay in org.queue.sent[:-1])


def test_at_or_below_the_threshold_or_in_one_account_one_invocation_scans_it_all() -> None:
    assert fanout.plan(Org(threshold=6).services) is None
    world = FakeWorld(env={"REAPER_FANOUT_SHARDS": "1"})
    assert fanout.plan(replace(world.services, runs=FakeReportRuns(), queue=FakeShardQueue())) is None


def test_the_last_shard_in_posts_once_whatever_the_order_and_duplicates(org: Org) -> None:
    org.accounts.launch(A, "i-a")
    org.accounts.launch(C, "i-c")
    *shards, _deadline = start(org)

    ready = [fanout.receive(org.services, m) for m in [*reversed(shards), shards[0], *shards]]

    posted = [r for r in ready if r is not None]
    assert len(posted) == 1 and posted[0].why == "complete"
    assert ready[len(shards) - 1] is posted[0]  # the message that completed the set
    report = posted[0].report
    assert [f.instance.instance_id for f in report.proposed] == ["i-a", "i-c"]
    assert report.proposed[0].instance.account_name == "payments" and report.errors == {}
    scans = org.accounts.worlds[A].ec2(HOME).failures.calls["running_pages"]
    assert scans == 1  # each shard scanned once, duplicates or not


def test_the_deadline_names_the_missing_and_failed_shards_and_late_shards_change_nothing(org: Org) -> None:
    org.accounts.launch(A, "i-a")
    org.accounts.refuse(B)
    *shards, deadline = start(org)

    for message in shards[:4]:
        assert fanout.receive(org.services, message) is None
    ready = fanout.receive(org.services, deadline)
    late = [fanout.receive(org.services, m) for m in [*shards, deadline]]

    assert ready is not None and ready.why == "deadline" and late == [None] * len(late)
    assert set(ready.report.errors) == {f"{B}/us-east-1", f"{B}/eu-west-1", f"{C}/us-east-1", f"{C}/eu-west-1"}
    assert "AccessDenied" in ready.report.errors[f"{B}/us-east-1"]
    assert "deadline" in ready.report.errors[f"{C}/us-east-1"]
    assert [f.instance.instance_id for f in ready.report.proposed] == ["i-a"]


def test_a_store_that_fails_leaves_the_message_to_be_redelivered_and_scanned_once_stored(org: Org) -> None:
    org.accounts.launch(A, "i-a")
    first, *_ = start(org)
    org.runs.failures.fail("shard_done", AwsError("DynamoDB: throttled", "ThrottlingException"))

    with pytest.raises(AwsError):
        fanout.receive(org.services, first)
    fanout.receive(org.services, first)  # SQS delivers it again

    assert org.accounts.worlds[A].ec2(HOME).failures.calls["running_pages"] == 1  # stored the first time
    run = next(iter(org.runs.runs.values()))
    assert first["shard"] in run.done


def test_findings_survive_packing_exactly() -> None:
    world = FakeWorld()
    world.launch("i-idle", tags={"Name": "dev", "Owner": "alice", "reaper:auto-stop": "true",
                                 "reaper:keep-until": "soon"})
    world.launch("i-busy", cpu=(50.0,) * 14)
    findings = list(find_idle(world.services).findings)
    idle = next(f for f in findings if f.instance.instance_id == "i-idle")
    findings.append(replace(idle, instance=replace(idle.instance, instance_id="i-hibernating",
                                                   hibernation_configured=True)))
    assert idle.owner == "alice" and idle.verdict.evidence.daily_cpu and idle.notes  # all of it is carried

    def reported(f: Finding) -> Finding:  # what a report reads of the tags: Name and reaper:*
        tags = {k: v for k, v in f.instance.tags.items() if k == "Name" or k.startswith("reaper:")}
        return replace(f, instance=replace(f.instance, tags=MappingProxyType(tags)))

    assert codec.unpack(codec.pack(findings)) == [reported(f) for f in findings]
    assert all(isinstance(f, Finding) for f in codec.unpack(codec.pack(findings)))


def test_packed_findings_keep_only_the_tags_a_report_reads() -> None:
    world = FakeWorld()
    tags = {"Name": "dev", "Owner": "alice", **{f"cost-centre-{n}": "x" * 200 for n in range(40)}}
    world.launch("i-idle", tags=tags)

    (finding,) = codec.unpack(codec.pack(find_idle(world.services).findings))

    assert dict(finding.instance.tags) == {"Name": "dev"}  # the owner travels as Finding.owner
    assert (finding.instance.name, finding.owner) == ("dev", "alice")
