"""Many accounts (issue 15) on fakes: shards per account and region, failures kept to their account,
rows and audit keys carrying the account, stops named by their approver."""

from __future__ import annotations

import pytest

from reaper import decisions
from reaper.accounts import Shard, source_identity
from reaper.errors import AwsError, AwsUnavailable, SettingsError
from reaper.model import Outcome
from reaper.scan import find_idle
from reaper.settings import Settings
from tests.fakes.accounts import FakeAccounts, member
from tests.fakes.core import HOME, OTHER, FakeWorld

A, B, C = "111111111111", "222222222222", "333333333333"


@pytest.fixture
def org() -> FakeAccounts:
    return FakeAccounts(FakeWorld(), [member(A, "payments-dev"), member(B), member(C)])


def test_each_region_of_each_account_is_a_shard_and_rows_carry_their_account(org: FakeAccounts) -> None:
    org.launch(A, "i-a-home")
    org.launch(B, "i-b-other", region=OTHER)
    org.launch(C, "i-c-busy", cpu=(50.0,) * 14)
    org.home.launch("i-own-account")  # the reaper's own account is not one of the members: not scanned

    report = find_idle(org.services)

    assert report.shards == tuple(f"{a}/{r}" for a in (A, B, C) for r in (HOME, OTHER))
    assert {(f.instance.instance_id, f.instance.account) for f in report.findings} == {
        ("i-a-home", A), ("i-b-other", B), ("i-c-busy", C)}
    rows = {row["instance_id"]: row for row in report.to_json()["idle"]}
    assert rows["i-a-home"]["account"] == A and rows["i-a-home"]["account_name"] == "payments-dev"
    assert rows["i-b-other"]["account_name"] is None
    assert report.to_json()["scanned_shards"] == list(report.shards)


def test_a_shard_costs_what_a_one_account_region_costs(org: FakeAccounts) -> None:
    for n in range(3):
        org.launch(A, f"i-{n}")

    find_idle(org.services)

    world = org.worlds[A]
    assert world.ec2(HOME).failures.calls["running_pages"] == 1
    assert world.metrics[HOME].failures.calls["daily_usage"] == 1


def test_an_account_whose_role_cannot_be_assumed_fails_its_shards_and_the_rest_stand(org: FakeAccounts) -> None:
    org.launch(A, "i-a")
    org.launch(B, "i-b")
    org.refuse(B)

    report = find_idle(org.services)

    assert set(report.errors) == {f"{B}/{HOME}", f"{B}/{OTHER}"}
    assert "AccessDenied" in report.errors[f"{B}/{HOME}"]
    assert [f.instance.instance_id for f in report.proposed] == ["i-a"]
    assert f"{B}/{HOME}" not in report.to_json()["scanned_shards"]


def test_a_scan_fails_only_when_every_shard_failed(org: FakeAccounts) -> None:
    for account in (A, B, C):
        org.refuse(account)

    with pytest.raises(AwsUnavailable):
        find_idle(org.services)


def test_an_organisation_that_cannot_be_listed_fails_the_scan(org: FakeAccounts) -> None:
    org.failures.fail("listed", AwsError("AccessDeniedException: organizations:ListAccounts", "AccessDenied"))

    with pytest.raises(AwsError):
        find_idle(org.services)


def test_a_scan_of_given_shards_scans_only_those(org: FakeAccounts) -> None:
    org.launch(A, "i-a")
    org.launch(B, "i-b")

    report = find_idle(org.services, shards=[Shard(HOME, member(B))])

    assert report.shards == (f"{B}/{HOME}",)
    assert [f.instance.instance_id for f in report.findings] == ["i-b"]
    assert org.worlds[A].ec2(HOME).failures.calls["running_pages"] == 0


def test_a_stop_in_a_member_account_is_made_there_in_the_approvers_name(org: FakeAccounts) -> None:
    org.launch(B, "i-b")
    report = find_idle(org.services)
    (row,) = decisions.propose(org.services, report.proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(org.services, [row])

    result = decisions.stop(org.services, row.id, "U0ALICE", channel="C1", message_ts="1.1")

    assert result.outcome is Outcome.STOPPED
    assert org.worlds[B].ec2(HOME).stopped == ["i-b"]
    assert org.home.ec2(HOME).stopped == []
    assert (B, HOME, "U0ALICE") in org.asked  # the stop's gateway was asked for in the approver's name
    assert all(actor is None for account, _, actor in org.asked if (account, actor) != (B, "U0ALICE"))
    keys = list(org.home.audit.documents)
    assert keys and all(f"/accounts/{B}/{row.id}/" in key for key in keys)
    assert {d["account"] for d in org.home.audit.documents.values()} == {B}
    assert org.home.store.records[row.id].account == B


def test_one_account_keeps_its_audit_keys_and_json_as_before() -> None:
    world = FakeWorld()
    world.launch("i-idle")
    report = find_idle(world.services)
    (row,) = decisions.propose(world.services, report.proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(world.services, [row])

    decisions.stop(world.services, row.id, "U0ALICE", channel="C1", message_ts="1.1")

    assert all(key.split("/")[4] == row.id for key in world.audit.documents)  # decisions/Y/M/D/<id>/…
    document = report.to_json()
    assert document["shards"] == [] and document["idle"][0]["account"] is None


@pytest.mark.parametrize(("actor", "expected"), [
    ("U0123ABCD", "U0123ABCD"),
    ("alice smith (ops)", "alice-smith--ops-"),
    ("x", "x-"),
    ("é" * 80, "-" * 64),
    ("user@example.com", "user@example.com"),
])
def test_the_source_identity_is_what_sts_accepts(actor: str, expected: str) -> None:
    assert source_identity(actor) == expected


def env(**values: str) -> dict[str, str]:
    return {"AWS_REGION": HOME, **values}


def test_accounts_are_role_arns_or_ids_with_the_member_role_name() -> None:
    arn = f"arn:aws:iam::{A}:role/custom/reaper"
    settings = Settings.from_env(env(REAPER_ACCOUNTS=f"{arn}, {B}", REAPER_MEMBER_ROLE_NAME="scanner"))

    assert settings.member_roles == (arn, f"arn:aws:iam::{B}:role/scanner")
    assert settings.member_role(A) == arn and settings.many_accounts


def test_the_organisation_uses_the_default_member_role_name() -> None:
    settings = Settings.from_env(env(REAPER_ORGANIZATION="true", AWS_REGION="cn-north-1"))

    assert settings.member_role(C) == f"arn:aws-cn:iam::{C}:role/instance-reaper-member"


def test_unset_is_one_account() -> None:
    settings = Settings.from_env(env())

    assert not settings.many_accounts and settings.member_roles == () and not settings.organization


@pytest.mark.parametrize(("values", "named"), [
    ({"REAPER_ACCOUNTS": "12345"}, "REAPER_ACCOUNTS"),
    ({"REAPER_ACCOUNTS": f"{A},{A}"}, "REAPER_ACCOUNTS"),
    ({"REAPER_ACCOUNTS": A, "REAPER_ORGANIZATION": "true"}, "REAPER_ORGANIZATION"),
    ({"REAPER_ORGANIZATION": "maybe"}, "REAPER_ORGANIZATION"),
    ({"REAPER_MEMBER_ROLE_NAME": "no spaces please"}, "REAPER_MEMBER_ROLE_NAME"),
])
def test_a_bad_accounts_setting_names_its_variable(values: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env(**values))
