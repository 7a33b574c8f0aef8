"""Dry run and hibernate (issue 15, part 3) through the real EC2 gateway: on moto's server, and with
botocore's Stubber for the answers moto never gives (hibernation refused, a dry run refused)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from reaper import bootstrap, decisions
from reaper.aws.ec2 import Ec2Gateway
from reaper.errors import HibernationRefused
from reaper.model import DecisionState, Outcome
from reaper.ports import Services
from reaper.scan import find_idle
from reaper.settings import Settings
from tests.aws import HOME, AwsEnv
from tests.calls import CallLog, fail
from tests.integration.conftest import Seed, quiet


def state_of(aws: AwsEnv, instance_id: str) -> str:
    r = aws.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(r["Reservations"][0]["Instances"][0]["State"]["Name"])


def offer_all(services: Services) -> list[decisions.Decision]:
    rows = decisions.propose(services, find_idle(services, [HOME]).proposed, channel="C1", message_ts="1.2")
    decisions.record_rows(services, rows)
    return rows


def click(services: Services, row: decisions.Decision) -> decisions.Result:
    return decisions.stop(services, row.id, "U-alice", channel="C1", message_ts="1.2")


# -- dry run on moto ---------------------------------------------------------------------------


def test_a_dry_run_makes_zero_real_stops_and_records_each_would_stop(aws: AwsEnv, seed: Seed) -> None:
    ids = seed([quiet("a"), quiet("b"), quiet("c", hibernation=True)])
    aws.init()
    log = CallLog()
    settings = Settings.from_env({**aws.env(), "REAPER_DRY_RUN": "true"})
    services = bootstrap.build(settings, ec2=lambda r: Ec2Gateway(log.attach(aws.client("ec2", r)), r))

    results = [click(services, row) for row in offer_all(services)]

    assert [r.outcome for r in results] == [Outcome.WOULD_STOP] * 3
    assert {state_of(aws, i) for i in ids.values()} == {"running"}
    stops = log.params["StopInstances"]
    assert len(stops) == 3 and all(p["DryRun"] is True for p in stops)
    assert sum(1 for p in stops if p.get("Hibernate")) == 1  # the hibernation-configured one, checked as such
    for result in results:
        assert result.decision is not None
        stored = services.store.get(result.decision.id)
        assert stored.state is DecisionState.WOULD_STOP and not stored.unpublished
        keys = [k for k in services.audit.keys() if f"/{stored.id}/" in k]
        assert [k.rsplit("/", 1)[1] for k in keys] == ["0001-stop-requested.json", "0002-would-stop.json"]
        document = services.audit.get(keys[1])
        assert (document["outcome"], document["dry_run"]) == ("would_stop", True)
        assert "DryRunOperation" in str(document["reason"])
    assert {d.state for d in services.store.recent(10)} == {DecisionState.WOULD_STOP}


def test_a_dry_run_cli_stop_leaves_the_instance_running(
    aws: AwsEnv, seed: Seed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reaper.cli import main

    monkeypatch.setenv("REAPER_DRY_RUN", "true")
    instance_id = seed([quiet("a")])["a"]
    aws.init()

    code = main(["stop", instance_id, "--by", "alice"])

    out = capsys.readouterr().out
    assert code == 0 and state_of(aws, instance_id) == "running"
    assert "would_stop — DRY RUN: would stop, nothing was stopped." in out


# -- hibernate on moto ---------------------------------------------------------------------------


def test_the_gateway_reads_hibernation_configured(aws: AwsEnv, seed: Seed) -> None:
    ids = seed([quiet("plain"), quiet("sleepy", hibernation=True)])
    gateway = Ec2Gateway(aws.client("ec2"), HOME)

    assert gateway.describe(ids["sleepy"]).hibernation_configured is True
    assert gateway.describe(ids["plain"]).hibernation_configured is False


def test_a_click_hibernates_an_instance_configured_for_it(aws: AwsEnv, seed: Seed) -> None:
    instance_id = seed([quiet("sleepy", hibernation=True)])["sleepy"]
    aws.init()
    log = CallLog()
    services = aws.services(ec2=lambda r: Ec2Gateway(log.attach(aws.client("ec2", r)), r))
    (row,) = offer_all(services)

    result = click(services, row)

    assert result.outcome is Outcome.STOPPED and state_of(aws, instance_id) in ("stopping", "stopped")
    assert [p.get("Hibernate") for p in log.params["StopInstances"]] == [True]
    assert services.store.get(row.id).last_event == "hibernated"


def test_a_refused_hibernation_falls_back_to_a_plain_stop_on_the_wire(aws: AwsEnv, seed: Seed) -> None:
    instance_id = seed([quiet("sleepy", hibernation=True)])["sleepy"]
    aws.init()
    log = CallLog()
    client = log.attach(aws.client("ec2"))
    # moto hibernates anything; AWS refuses an instance not ready to hibernate yet.
    refused = fail(client, "StopInstances", "UnsupportedHibernationConfiguration",
                   when=lambda body: b"Hibernate=true" in body)
    services = aws.services(ec2=lambda r: Ec2Gateway(client, r))
    (row,) = offer_all(services)

    result = click(services, row)

    assert refused() == 1
    assert result.outcome is Outcome.STOPPED and state_of(aws, instance_id) in ("stopping", "stopped")
    assert [p.get("Hibernate") for p in log.params["StopInstances"]] == [True, None]
    stored = services.store.get(row.id)
    assert stored.last_event == "stopped-without-hibernation"
    assert "UnsupportedHibernationConfiguration" in str(stored.reason)


# -- the answers moto never gives: botocore's Stubber ----------------------------------------------


def stubbed(aws: AwsEnv) -> tuple[Ec2Gateway, Stubber]:
    client = aws.client("ec2")
    return Ec2Gateway(client, HOME), Stubber(client)


def error(stub: Stubber, code: str, params: dict[str, Any], status: int = 400) -> None:
    stub.add_client_error("stop_instances", service_error_code=code, service_message=f"{code} (stubbed)",
                          http_status_code=status, expected_params=params)


def test_hibernate_sends_hibernate_true_and_says_hibernated(aws: AwsEnv) -> None:
    gateway, stub = stubbed(aws)
    stub.add_response("stop_instances", {"StoppingInstances": [
        {"InstanceId": "i-1", "CurrentState": {"Code": 64, "Name": "stopping"},
         "PreviousState": {"Code": 16, "Name": "running"}}]},
        expected_params={"InstanceIds": ["i-1"], "Hibernate": True})
    with stub:
        attempt = gateway.stop("i-1", hibernate=True)
        stub.assert_no_pending_responses()

    assert (attempt.state, attempt.event) == (DecisionState.STOPPED, "hibernated")


@pytest.mark.parametrize("code", ["UnsupportedHibernationConfiguration", "UnsupportedOperation"])
def test_a_hibernation_ec2_refuses_is_raised_as_hibernation_refused(aws: AwsEnv, code: str) -> None:
    gateway, stub = stubbed(aws)
    error(stub, code, {"InstanceIds": ["i-1"], "Hibernate": True})
    with stub, pytest.raises(HibernationRefused) as refused:
        gateway.stop("i-1", hibernate=True)

    assert refused.value.code == code


def test_unsupported_operation_without_hibernate_is_still_a_skip(aws: AwsEnv) -> None:
    gateway, stub = stubbed(aws)
    error(stub, "UnsupportedOperation", {"InstanceIds": ["i-1"]})
    with stub:
        attempt = gateway.stop("i-1")

    assert attempt.state is DecisionState.SKIPPED


def test_a_dry_run_ec2_accepts_is_a_would_stop(aws: AwsEnv) -> None:
    gateway, stub = stubbed(aws)
    error(stub, "DryRunOperation", {"InstanceIds": ["i-1"], "DryRun": True}, status=412)
    with stub:
        attempt = gateway.stop("i-1", dry_run=True)

    assert attempt.state is DecisionState.WOULD_STOP and "DryRunOperation" in attempt.reason


def test_a_dry_run_ec2_would_refuse_for_permission_says_it_would_fail(aws: AwsEnv) -> None:
    gateway, stub = stubbed(aws)
    error(stub, "UnauthorizedOperation", {"InstanceIds": ["i-1"], "DryRun": True}, status=403)
    with stub:
        attempt = gateway.stop("i-1", dry_run=True)

    assert attempt.state is DecisionState.FAILED
    assert attempt.reason.startswith("DRY RUN: the stop would not go through") and "IAM role" in attempt.reason
