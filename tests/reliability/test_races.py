"""Nothing is stopped twice: concurrent clicks against one decision, and Stop against Keep.

Atomicity comes from DynamoDB's conditional write. moto's threaded server does not make
conditional writes atomic (two contended UpdateItems both succeed about 0.5 % of the
time), so demo.emulator serialises DynamoDB requests the way DynamoDB serialises writes to
one item; every other service stays concurrent. The naive check-then-act control below,
run against the same emulator, double-stops — the test can tell a race when it sees one.

No trial hopes for a race: the contenders' claims are held at the HTTP boundary until all
of them are ready, then sent together (ClaimGate), and the control's contenders all check
before any of them acts. Every trial is a race, on a quiet machine as on a loaded one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from demo.fleet import AMI
from reaper import decisions
from reaper.aws.ec2 import Ec2Gateway
from reaper.decisions import new_id
from reaper.model import Decision, DecisionState, Outcome
from reaper.ports import Services
from tests.aws import HOME, AwsEnv
from tests.calls import CallLog
from tests.reliability.figures import Figures

TRIALS = 200
CLICKS = 8
# Trials of different rows are independent, so several run at once: each trial's contenders still
# wait for each other (their own barriers and gate), and a sequence of AWS calls through the
# emulator waits far more than it computes, so concurrent trials finish in a fraction of the time.
CONCURRENT_TRIALS = 4


def rows_for_new_instances(aws: AwsEnv, services: Services, n: int) -> list[Decision]:
    # An EBS-only type: moto's default (m1.small) has an instance-store disk, never offered.
    reservation = aws.client("ec2").run_instances(ImageId=AMI, MinCount=n, MaxCount=n,
                                                  InstanceType="t3.micro")
    now = services.clock()
    rows = [
        Decision(new_id(), i["InstanceId"], HOME, DecisionState.PENDING, now, now + timedelta(days=1),
                 channel="C1", message_ts="1.1")
        for i in reservation["Instances"]
    ]
    decisions.record_rows(services, rows)
    return rows


def counted(aws: AwsEnv, services: Services) -> tuple[Services, Counter[str]]:
    """The same Services (the same store, so the same DynamoDB client the gate holds), with an EC2
    client that counts StopInstances per instance id."""
    log = CallLog()
    client = log.attach(aws.client("ec2"))
    stops: Counter[str] = Counter()
    lock = threading.Lock()  # contenders count at once: no increment may be lost, or a double stop could hide

    def record(params: dict[str, object], **_: object) -> None:
        with lock:
            for instance_id in params.get("InstanceIds", []):  # type: ignore[attr-defined]
                stops[instance_id] += 1

    client.meta.events.register("provide-client-params.ec2.StopInstances", record)
    return replace(services, ec2=lambda r: Ec2Gateway(client, r)), stops


# A bound on a hang only (a contender that died leaves the others waiting); a loaded machine is never this slow.
HANG = 120.0


class ClaimGate:
    """Holds each contender's first DynamoDB UpdateItem (its conditional claim) at botocore's
    before-send hook until every contender of its trial has one ready, then sends them together.

    The hook sits on pynamodb's own client, so what is held is the very request the store
    sends; threads that did not arm the gate (and later writes of the winner) pass straight on.
    """

    def __init__(self, client: Any) -> None:
        self.held = 0  # claims that went through the gate: every contender's, if every trial raced
        self._lock = threading.Lock()
        self._armed = threading.local()
        self._client = client
        self._client.meta.events.register_first("before-send.dynamodb.UpdateItem", self._hold)

    def arm(self, barrier: threading.Barrier) -> None:
        self._armed.barrier = barrier

    def _hold(self, **_: object) -> None:
        barrier, self._armed.barrier = getattr(self._armed, "barrier", None), None
        if barrier is not None:
            barrier.wait()
            with self._lock:
                self.held += 1

    def close(self) -> None:
        self._client.meta.events.unregister("before-send.dynamodb.UpdateItem", self._hold)


@pytest.fixture
def gate(services: Services) -> Iterator[ClaimGate]:
    held = ClaimGate(services.store.client)  # type: ignore[attr-defined]
    yield held
    held.close()


def at_once(*actions: Callable[[], object], gate: ClaimGate | None = None) -> list[object]:
    """Run the actions on their own threads, released together by a barrier; with a gate,
    their conditional claims also reach DynamoDB together."""
    barrier = threading.Barrier(len(actions), timeout=HANG)
    claims = threading.Barrier(len(actions), timeout=HANG)
    results: list[object] = [None] * len(actions)

    def run(k: int) -> None:
        if gate is not None:
            gate.arm(claims)
        barrier.wait()
        results[k] = actions[k]()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def in_parallel(trial: Callable[[Decision], list[object]], rows: list[Decision]) -> list[list[object]]:
    """Every row's trial, CONCURRENT_TRIALS at a time; each trial's own contenders race as above."""
    with ThreadPoolExecutor(CONCURRENT_TRIALS, thread_name_prefix="trial") as pool:
        return list(pool.map(trial, rows))


def naive_stop(services: Services, decision_id: str, actor: str, checked: threading.Barrier) -> None:
    """The control: check, then act, with nothing making the pair atomic.

    `checked` holds every contender between its check and its act: the interleaving that
    breaks check-then-act (all see pending, then all stop), made to happen in every trial.
    """
    decision = services.store.get(decision_id)
    checked.wait()
    if decision.state is not DecisionState.PENDING:
        return
    services.store.client.update_item(  # type: ignore[attr-defined]  # an unconditional write
        TableName=services.settings.table,
        Key={"id": {"S": decision_id}},
        UpdateExpression="SET #state = :stopping, actor = :actor",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":stopping": {"S": DecisionState.STOPPING.value}, ":actor": {"S": actor}},
    )
    services.ec2(decision.region).stop(decision.instance_id)


@pytest.mark.slow
def test_eight_concurrent_stop_clicks_stop_once_in_every_trial(
    aws: AwsEnv, services: Services, gate: ClaimGate, figures: Figures
) -> None:
    racing, stops = counted(aws, services)
    rows = rows_for_new_instances(aws, services, TRIALS)

    def trial(row: Decision) -> list[object]:
        return at_once(*(lambda a=f"U-{k}": decisions.stop(racing, row.id, a) for k in range(CLICKS)), gate=gate)

    outcomes: Counter[Outcome] = Counter(r.outcome for results in in_parallel(trial, rows)  # type: ignore[attr-defined]
                                         for r in results)

    double = sum(1 for row in rows if stops[row.instance_id] != 1)
    figures.record("races", f"{CLICKS} concurrent Stop clicks on one row", tried=TRIALS, unwanted=double,
                   note=f"{TRIALS * CLICKS} clicks, {sum(stops.values())} StopInstances")
    assert gate.held == TRIALS * CLICKS  # every click's claim was sent together with its rivals'
    assert double == 0
    assert outcomes == {Outcome.STOPPED: TRIALS, Outcome.ALREADY_DECIDED: TRIALS * (CLICKS - 1)}
    assert all(services.store.get(r.id).state is DecisionState.STOPPED for r in rows[:20])


@pytest.mark.slow
def test_stop_against_keep_ends_in_exactly_one_terminal_state(
    aws: AwsEnv, services: Services, gate: ClaimGate, figures: Figures
) -> None:
    racing, stops = counted(aws, services)
    rows = rows_for_new_instances(aws, services, TRIALS)

    def trial(row: Decision) -> list[object]:
        return at_once(lambda: decisions.stop(racing, row.id, "U-stop"),
                       lambda: decisions.keep(racing, row.id, "U-keep"), gate=gate)

    in_parallel(trial, rows)

    finals = Counter(services.store.get(r.id).state for r in rows)
    inconsistent = sum(
        1 for r in rows
        if (services.store.get(r.id).state is DecisionState.KEPT) != (stops[r.instance_id] == 0)
    )
    figures.record("races", "Stop and Keep clicked at the same moment", tried=TRIALS, unwanted=inconsistent,
                   note=f"stopped {finals[DecisionState.STOPPED]}, kept {finals[DecisionState.KEPT]}")
    assert gate.held == TRIALS * 2
    assert set(finals) <= {DecisionState.STOPPED, DecisionState.KEPT}
    assert sum(finals.values()) == TRIALS
    assert inconsistent == 0
    assert max(stops.values(), default=0) <= 1


@pytest.mark.slow
def test_the_naive_check_then_act_control_double_stops(aws: AwsEnv, services: Services, figures: Figures) -> None:
    racing, stops = counted(aws, services)
    rows = rows_for_new_instances(aws, services, 40)

    def trial(row: Decision) -> list[object]:
        checked = threading.Barrier(CLICKS, timeout=HANG)
        return at_once(*(lambda a=f"U-{k}": naive_stop(racing, row.id, a, checked) for k in range(CLICKS)))

    in_parallel(trial, rows)

    double = sum(1 for row in rows if stops[row.instance_id] > 1)
    figures.record("races", "control: naive check-then-act, 8 clicks", tried=len(rows), unwanted=double,
                   note="expected to fail: shows the race test can see a double stop")
    # Every contender checked before any acted, so every trial must show the double stop.
    assert double == len(rows), "the control should double-stop in every trial, or the race test proves nothing"
