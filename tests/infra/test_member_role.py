"""infra/member-role.yaml (issue 15) agrees with the code and with the reaper's own role.

The member role may do in a member account what the scan and a stop do there (the EC2 and
CloudWatch gateways' IAM_ACTIONS), nothing else, with the main role's explicit Denies; only the
reaper's own role may assume it, and the main role may assume that role name alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from reaper.aws import cloudwatch, ec2
from reaper.settings import DEFAULT_MEMBER_ROLE
from tests.infra.project import ROOT, CloudFormationLoader, as_list, load_template, policy_statements

MEMBER_ROLE = ROOT / "infra" / "member-role.yaml"


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.load(MEMBER_ROLE.read_text(), Loader=CloudFormationLoader)
    return data


def statements(member: dict[str, Any]) -> list[dict[str, Any]]:
    role = member["Resources"]["MemberRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def test_the_member_role_allows_exactly_what_the_scan_and_a_stop_call_in_a_member_account(
    member: dict[str, Any],
) -> None:
    allowed = {a for s in statements(member) if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert allowed == set(ec2.IAM_ACTIONS) | set(cloudwatch.IAM_ACTIONS)


def test_the_member_role_tags_only_the_keep_until_key_as_the_main_role_does(member: dict[str, Any]) -> None:
    def grant(found: list[dict[str, Any]]) -> dict[str, Any]:
        [statement] = [s for s in found if "ec2:CreateTags" in as_list(s["Action"])]
        return statement

    mine, main = grant(statements(member)), grant(policy_statements(load_template()))
    for operator in ("ForAllValues:StringEquals", "ForAnyValue:StringEquals"):
        assert mine["Condition"][operator] == main["Condition"][operator] == {"aws:TagKeys": ["reaper:keep-until"]}


def test_the_member_role_has_the_main_roles_stop_denies_word_for_word(member: dict[str, Any]) -> None:
    def denies(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {s["Sid"]: s for s in found if s["Effect"] == "Deny" and "ec2:StopInstances" in as_list(s["Action"])}

    main = denies(policy_statements(load_template()))
    assert set(main) == {"NeverStopExemptInstances", "NeverStopAutoScalingMembers"}
    assert denies(statements(member)) == main


def test_stops_in_a_member_account_are_limited_to_the_scanned_regions(member: dict[str, Any]) -> None:
    (allow,) = [s for s in statements(member) if s["Effect"] == "Allow" and "ec2:StopInstances" in as_list(s["Action"])]
    assert allow["Condition"]["StringEquals"]["aws:RequestedRegion"] == {"Fn::Split": [",", {"Ref": "ScanRegions"}]}


def test_only_the_reapers_role_may_assume_it_and_name_a_source_identity(member: dict[str, Any]) -> None:
    (trust,) = member["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "ReaperRoleArn"}}
    assert set(as_list(trust["Action"])) == {"sts:AssumeRole", "sts:SetSourceIdentity"}


def test_the_role_name_is_the_one_the_code_and_the_main_stack_default_to(member: dict[str, Any]) -> None:
    template = load_template()
    assert member["Parameters"]["RoleName"]["Default"] == DEFAULT_MEMBER_ROLE
    assert template["Parameters"]["MemberRoleName"]["Default"] == DEFAULT_MEMBER_ROLE
    assert member["Resources"]["MemberRole"]["Properties"]["RoleName"] == {"Ref": "RoleName"}


def test_the_main_role_may_assume_the_member_role_name_alone(member: dict[str, Any]) -> None:
    template = load_template()
    (grant,) = [s for s in policy_statements(template) if "sts:AssumeRole" in as_list(s["Action"])]
    assert set(as_list(grant["Action"])) == {"sts:AssumeRole", "sts:SetSourceIdentity"}
    assert grant["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}
    assert template["Outputs"]["ReaperRoleArn"]["Value"] == {"Fn::GetAtt": ["ReaperRole", "Arn"]}
    assert "ReaperRoleArn" in member["Parameters"]
