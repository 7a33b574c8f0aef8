"""Many accounts (issue 15) on moto's server: each member account is a world of its own, reached
through sts:AssumeRole, as on AWS.

moto keeps one world per account and answers AssumeRole with credentials of the role's account,
but it never checks that the role exists. A member account without the role is played by STS's
own answer at the gateway's boundary: the STS client the gateway is given answers AccessDenied
for that role's AssumeRole (tests.calls.fail, injected at botocore's before-send hook, so it is
parsed and retried as an answer from the wire), which is what AWS answers for a role that does
not exist or does not trust the reaper.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from reaper import bootstrap, decisions
from reaper.aws.accounts import MemberAccounts
from reaper.model import Outcome
from reaper.scan import find_idle
from reaper.settings import Settings
from tests.aws import HOME, OTHER, AwsEnv
from tests.calls import CallLog, fail
from tests.integration.conftest import busy, quiet
from tests.members import ACCOUNTS, Members


def many(aws: AwsEnv, accounts: list[str], **settings: str) -> Settings:
    return Settings.from_env({**aws.env(), "REAPER_ACCOUNTS": ",".join(accounts), **settings})


@pytest.mark.slow
def test_twenty_accounts_in_two_regions_are_scanned_each_on_its_own_credentials(aws: AwsEnv) -> None:
    aws.init()
    members = Members(aws)
    for n, account in enumerate(ACCOUNTS):
        members.seed(account, [quiet(f"idle-{n}"), busy(f"busy-{n}", OTHER)])
    aws.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)  # the reaper's own: not a member
    log = CallLog()
    settings = many(aws, ACCOUNTS)
    members_gateway = MemberAccounts(settings, on_client=lambda client, _account: log.attach(client),
                                     sts=log.attach(aws.client("sts")))
    services = bootstrap.build(settings, accounts=members_gateway)

    started = time.monotonic()
    report = find_idle(services)
    took = time.monotonic() - started

    assert report.errors == {}
    assert len(report.shards) == 40 == len(report.to_json()["scanned_shards"])
    idle = {(f.instance.account, f.instance.name) for f in report.proposed}
    assert idle == {(account, f"idle-{n}") for n, account in enumerate(ACCOUNTS)}
    assert {(f.instance.account, f.instance.region) for f in report.busy} == {(a, OTHER) for a in ACCOUNTS}
    # The batching of one account, per shard: one describe page and one GetMetricData call each,
    # and one AssumeRole per account for all its regions.
    assert log.counts["DescribeInstances"] == 40 and log.counts["GetMetricData"] == 40
    assert log.counts["AssumeRole"] == 20
    assert took < 60, f"20 accounts × 2 regions took {took:.1f} s"


def test_an_account_without_the_role_is_reported_failed_and_the_others_stand(aws: AwsEnv) -> None:
    aws.init()
    members = Members(aws)
    accounts = ACCOUNTS[:4]
    for n, account in enumerate(accounts):
        members.seed(account, [quiet(f"idle-{n}")])
    missing = accounts[2]
    sts = aws.client("sts")
    fail(sts, "AssumeRole", "AccessDenied", status=403, when=lambda body: missing.encode() in body)
    settings = many(aws, accounts)
    services = bootstrap.build(settings, accounts=MemberAccounts(settings, sts=sts))

    report = find_idle(services)

    assert set(report.errors) == {f"{missing}/{HOME}", f"{missing}/{OTHER}"}
    assert "AccessDenied" in report.errors[f"{missing}/{HOME}"]
    assert {f.instance.account for f in report.proposed} == set(accounts) - {missing}
    assert len(report.to_json()["scanned_shards"]) == 6


def test_the_organisation_lists_its_active_accounts_with_their_names(aws: AwsEnv) -> None:
    aws.init()
    organizations = aws.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    ids = {name: organizations.create_account(Email=f"{name}@example.com", AccountName=name)
           ["CreateAccountStatus"]["AccountId"] for name in ("payments", "analytics", "sandbox")}
    organizations.close_account(AccountId=ids["sandbox"])
    members = Members(aws)
    members.seed(ids["payments"], [quiet("idle-payments")])
    members.seed(ids["analytics"], [quiet("idle-analytics", OTHER)])
    settings = Settings.from_env({**aws.env(), "REAPER_ORGANIZATION": "true"})

    report = find_idle(bootstrap.build(settings))

    listed = {shard.split("/")[0] for shard in report.shards}
    assert ids["payments"] in listed and ids["analytics"] in listed and ids["sandbox"] not in listed
    rows = {row["name"]: row for row in report.to_json()["idle"]}
    assert (rows["idle-payments"]["account"], rows["idle-payments"]["account_name"]) == (ids["payments"], "payments")
    assert rows["idle-analytics"]["account_name"] == "analytics"


def test_a_stop_in_a_member_account_assumes_the_role_as_the_approver(aws: AwsEnv) -> None:
    aws.init()
    members = Members(aws)
    account = ACCOUNTS[0]
    ids = members.seed(account, [quiet("idle-member")])
    sts = aws.client("sts")
    log = CallLog()
    log.attach(sts)
    settings = many(aws, [account])
    services = bootstrap.build(settings, accounts=MemberAccounts(settings, sts=sts))
    report = find_idle(services, [HOME])
    (row,) = decisions.propose(services, report.proposed, channel="C1", message_ts="1.1")
    decisions.record_rows(services, [row])

    result = decisions.stop(services, row.id, "U0ALICE (ops)", channel="C1", message_ts="1.1")

    assert result.outcome is Outcome.STOPPED, result.message
    state = members.client(account, "ec2").describe_instances(InstanceIds=[ids["idle-member"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] in ("stopping", "stopped")
    identities = Counter(p.get("SourceIdentity") for p in log.params["AssumeRole"])
    assert identities == Counter({None: 1, "U0ALICE--ops-": 1})  # the scan's session, then the stop's own
    (named,) = [p for p in log.params["AssumeRole"] if p.get("SourceIdentity")]
    assert named["RoleArn"] == f"arn:aws:iam::{account}:role/instance-reaper-member"
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]]
    assert keys and all(f"/accounts/{account}/{row.id}/" in key for key in keys)
    assert services.store.get(row.id).account == account


def test_one_account_scans_its_regions_as_before(aws: AwsEnv) -> None:
    services = aws.init()
    aws.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)

    report = find_idle(services)

    assert services.accounts is None and report.shards == () and report.regions == (HOME, OTHER)
    assert [f.instance.account for f in report.findings] == [None]
