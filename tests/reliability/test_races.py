"""Nothing is stopped twice: concurrent clicks against one decision, and Stop against Keep.

Atomicity comes from DynamoDB's conditional write. moto's threaded server does not make
conditional writes atomic (two contended UpdateItems both succeed about 0.5 % of the
time), so demo.emulator serialises DynamoDB requests the way DynamoDB serialises writes to
one item; every other service stays concurrent. The naive check-then-act control below,
run against the same emulator, double-stops — the test can tell a race when it sees one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

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


def rows_for_new_instances(aws: AwsEnv, services: Services, n: int) -> list[Decision]:
    # An EBS-only type: moto's default (m1.small) has an instance-store disk, never offered.
    reservation = aws.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=n, MaxCount=n,
                                                  InstanceType="t3.micro")
    now = services.clock()
    rows = [
        Decision(new_id(), i["InstanceId"], HOME, DecisionState.PENDING, now, now + timedelta(days=1),
                 channel="C1", message_ts="1.1")
        for i in reservation["Instances"]
    ]
    decisions.record_rows(services, rows)
    return rows


def counted(aws: AwsEnv) -> tuple[Services, Counter[str]]:
    """Services whose EC2 client counts StopInstances per instance id."""
    log = CallLog()
    client = log.attach(aws.client("ec2"))
    stops: Counter[str] = Counter()

    def record(params: dict[str, object], **_: object) -> None:
        for instance_id in params.get("InstanceIds", []):  # type: ignore[attr-defined]
            stops[instance_id] += 1

    client.meta.events.register("provide-client-params.ec2.StopInstances", record)
    return aws.services(ec2=lambda r: Ec2Gateway(client, r)), stops


def at_once(*actions: Callable[[], object]) -> list[object]:
    """Run the actions on their own threads, released together by a barrier."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(k: int) -> None:
        barrier.wait()
        results[k] = actions[k]()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def naive_stop(services: Services, decision_id: str, actor: str) -> None:
    """The control: check, then act, with nothing making the pair atomic."""
    decision = services.store.get(decision_id)
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
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    racing, stops = counted(aws)
    rows = rows_for_new_instances(aws, services, TRIALS)

    outcomes: Counter[Outcome] = Counter()
    for row in rows:
        results = at_once(*(lambda a=f"U-{k}", r=row: decisions.stop(racing, r.id, a) for k in range(CLICKS)))
        outcomes.update(r.outcome for r in results)  # type: ignore[attr-defined]

    double = sum(1 for row in rows if stops[row.instance_id] != 1)
    figures.record("races", f"{CLICKS} concurrent Stop clicks on one row", tried=TRIALS, unwanted=double,
                   note=f"{TRIALS * CLICKS} clicks, {sum(stops.values())} StopInstances")
    assert double == 0
    assert outcomes == {Outcome.STOPPED: TRIALS, Outcome.ALREADY_DECIDED: TRIALS * (CLICKS - 1)}
    assert all(services.store.get(r.id).state is DecisionState.STOPPED for r in rows[:20])


@pytest.mark.slow
def test_stop_against_keep_ends_in_exactly_one_terminal_state(
    aws: AwsEnv, services: Services, figures: Figures
) -> None:
    racing, stops = counted(aws)
    rows = rows_for_new_instances(aws, services, TRIALS)

    for row in rows:
        at_once(lambda r=row: decisions.stop(racing, r.id, "U-stop"),
                lambda r=row: decisions.keep(racing, r.id, "U-keep"))

    finals = Counter(services.store.get(r.id).state for r in rows)
    inconsistent = sum(
        1 for r in rows
        if (services.store.get(r.id).state is DecisionState.KEPT) != (stops[r.instance_id] == 0)
    )
    figures.record("races", "Stop and Keep clicked at the same moment", tried=TRIALS, unwanted=inconsistent,
                   note=f"stopped {finals[DecisionState.STOPPED]}, kept {finals[DecisionState.KEPT]}")
    assert set(finals) <= {DecisionState.STOPPED, DecisionState.KEPT}
    assert sum(finals.values()) == TRIALS
    assert inconsistent == 0
    assert max(stops.values(), default=0) <= 1


def test_the_naive_check_then_act_control_double_stops(aws: AwsEnv, services: Services, figures: Figures) -> None:
    racing, stops = counted(aws)
    rows = rows_for_new_instances(aws, services, 40)

    for row in rows:
        at_once(*(lambda a=f"U-{k}", r=row: naive_stop(racing, r.id, a) for k in range(CLICKS)))

    double = sum(1 for row in rows if stops[row.instance_id] > 1)
    figures.record("races", "control: naive check-then-act, 8 clicks", tried=len(rows), unwanted=double,
                   note="expected to fail: shows the race test can see a double stop")
    assert double > 0, "the control should double-stop; if it does not, the race test proves nothing"
