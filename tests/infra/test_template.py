"""infra/template.yaml agrees with the code: handler, IAM actions, table schema, settings, schedules."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest

from reaper.aws.dynamo import DecisionItem
from reaper.settings import LAMBDA_TIMEOUTS, MAX_LOOKUP_SECONDS
from tests.infra.project import (
    ROOT,
    as_list,
    code_iam_actions,
    declared_iam_actions,
    env_names_in_code,
    load_template,
    policy_statements,
)

# Actions the Lambda platform needs on the code's behalf, which no gateway calls itself.
PLATFORM_ACTIONS = {
    "logs:CreateLogStream",  # the function's log group
    "logs:PutLogEvents",
    "sqs:SendMessage",  # EventInvokeConfig's on-failure destination (the shard queue's: reaper/aws/queue.py)
    "sqs:ReceiveMessage",  # the shard queue's event source (fan-out, issue 15)
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}
# Actions that AWS offers without resource-level permissions, so Resource "*" is the only choice.
NO_RESOURCE_LEVEL = {
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceAttribute",
    "ec2:DescribeSpotInstanceRequests",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeVolumes",
    "cloudwatch:GetMetricData",
    "pricing:GetProducts",
    "organizations:ListAccounts",
}
# Variables the code reads that the template leaves at their defaults on purpose.
DEFAULTED_IN_LAMBDA = {
    "SLACK_BOT_TOKEN",  # these three come from the REAPER_SLACK_SECRET secret
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",  # Socket Mode only
    "SLACK_API_URL",  # the real Slack
    "REAPER_POST_INTERVAL",  # pacing defaults suit Slack's limits
    "REAPER_GROUP_CACHE_SECONDS",
    "REAPER_LOG_LEVEL",  # python -m bot only; Lambda logs at POWERTOOLS_LOG_LEVEL
    "REAPER_PRICES",  # on; off only where the Price List API cannot be reached
    "REAPER_LOOKUP_SECONDS",  # the default is the most the Timeout holds (reaper.settings)
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="module")
def function(resources: dict[str, Any]) -> dict[str, Any]:
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 1, "one function serves Slack, the schedules and the lazy listeners"
    props: dict[str, Any] = functions[0]["Properties"]
    return props


def _allowed(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy_statements(template) if s["Effect"] == "Allow"]


# -- the function -------------------------------------------------------------------------


def test_the_template_parses_with_cloudformation_short_tags(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert template["Resources"]["ReaperFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["ReaperRole", "Arn"]}


def test_the_function_runs_the_bot_lambda_handler(function: dict[str, Any]) -> None:
    assert function["Handler"] == "bot.handler.lambda_handler"
    assert re.fullmatch(r"python3\.\d+", function["Runtime"])


def test_the_handler_module_defines_lambda_handler() -> None:
    from bot import handler

    assert callable(handler.lambda_handler)


def test_the_package_holds_the_runtime_code_and_requirements_only(function: dict[str, Any]) -> None:
    code = ROOT / "infra" / function["CodeUri"]
    entries = {p.name: p for p in code.iterdir()}
    assert set(entries) == {"reaper", "bot", "requirements.txt"}
    for name, path in entries.items():
        assert path.is_symlink() and path.resolve() == (ROOT / name).resolve(), name


def test_the_timeout_leaves_room_for_a_multi_region_scan(function: dict[str, Any]) -> None:
    assert 300 <= function["Timeout"] <= 900


def test_a_report_against_aws_that_never_answers_ends_inside_the_timeout(function: dict[str, Any]) -> None:
    # The longest wait: the Keeps query answers, then each region's first DescribeInstances page
    # (or first GetMetricData chunk) waits out every attempt, one region after another; a region
    # that failed is not asked again. Then one Slack post: 10 s, retried once on a connection error.
    regions = 8
    # Then the pacing of stop-protection look-ups, which stops at its time budget (issue 20).
    worst = LAMBDA_TIMEOUTS.worst_case * (1 + regions) + 2 * 10 + MAX_LOOKUP_SECONDS
    assert worst < function["Timeout"]


# -- IAM ----------------------------------------------------------------------------------


def test_every_gateway_declares_its_iam_actions() -> None:
    declared = declared_iam_actions("reaper")
    for gateway in ("ec2", "cloudwatch", "dynamo", "s3", "cache", "pricing"):
        assert f"reaper/aws/{gateway}.py" in declared, gateway


def test_the_role_allows_exactly_the_actions_the_code_declares(template: dict[str, Any]) -> None:
    allowed = {a for s in _allowed(template) for a in as_list(s["Action"])}
    assert allowed - PLATFORM_ACTIONS == code_iam_actions() - PLATFORM_ACTIONS
    assert PLATFORM_ACTIONS | code_iam_actions() <= allowed


def test_the_role_names_every_action_without_wildcards(template: dict[str, Any]) -> None:
    for statement in policy_statements(template):
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement.get("Sid")


def test_only_actions_without_resource_level_permissions_get_every_resource(template: dict[str, Any]) -> None:
    for statement in _allowed(template):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL, statement["Sid"]


def test_stopping_is_limited_to_the_scanned_regions_and_denied_for_exempt_instances(
    template: dict[str, Any],
) -> None:
    statements = [s for s in policy_statements(template) if "ec2:StopInstances" in as_list(s["Action"])]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert len(allow) == 1 and "aws:RequestedRegion" in allow[0]["Condition"]["StringEquals"]
    denied_tags = {key for s in deny for key in s["Condition"]["Null"]}
    assert denied_tags == {"aws:ResourceTag/reaper:exempt", "aws:ResourceTag/aws:autoscaling:groupName"}


def test_table_bucket_function_and_secret_actions_are_scoped_to_their_resource(template: dict[str, Any]) -> None:
    by_action = {a: s for s in _allowed(template) for a in as_list(s["Action"])}
    assert by_action["dynamodb:UpdateItem"]["Resource"] == [
        {"Fn::GetAtt": ["DecisionsTable", "Arn"]},
        {"Fn::Sub": "${DecisionsTable.Arn}/index/*"},
    ]
    assert by_action["s3:PutObject"]["Resource"] == {"Fn::Sub": "${AuditBucket.Arn}/decisions/*"}
    assert [r["Fn::Sub"].rsplit(":function:", 1)[1] for r in by_action["lambda:InvokeFunction"]["Resource"]] == [
        "${AWS::StackName}-reaper", "${AWS::StackName}-reaper:live"]
    assert by_action["secretsmanager:GetSecretValue"]["Resource"]["Fn::Sub"].endswith(
        ":secret:${SlackSecretName}-??????"
    )


def test_the_self_invoke_grant_names_the_function_and_its_alias(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    name = function["FunctionName"]["Fn::Sub"]
    [grant] = [s for s in _allowed(template) if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert [r["Fn::Sub"].rsplit(":function:", 1)[1] for r in grant["Resource"]] == [
        name, f"{name}:{function['AutoPublishAlias']}"]


def test_snapstart_is_offered_off_by_default_on_the_alias_every_trigger_uses(
    template: dict[str, Any], function: dict[str, Any], resources: dict[str, Any]
) -> None:
    parameter = template["Parameters"]["SnapStart"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("None", ["None", "PublishedVersions"])
    assert function["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    [config] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert config["Properties"]["Qualifier"] == function["AutoPublishAlias"] == "live"
    assert config["DependsOn"] == "ReaperFunctionAliaslive"


# -- async invocations and schedules -------------------------------------------------------


def test_late_lazy_invocations_are_dropped_before_slack_signatures_expire(resources: dict[str, Any]) -> None:
    configs = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert len(configs) == 1
    config = configs[0]
    assert config["FunctionName"] == {"Ref": "ReaperFunction"}
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 240
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedInvocations", "Arn"]}


@pytest.mark.parametrize(("event", "task"), [("DailyReport", "report"), ("RepairSweep", "reconcile")])
def test_each_schedule_delivers_a_scheduled_event_naming_its_task(
    function: dict[str, Any], event: str, task: str
) -> None:
    schedule = function["Events"][event]
    assert schedule["Type"] == "Schedule"
    payload = json.loads(schedule["Properties"]["Input"])
    assert payload == {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {"task": task}}


def test_the_repair_sweep_runs_only_once_the_handler_knows_the_reconcile_task(
    template: dict[str, Any], function: dict[str, Any]
) -> None:
    assert function["Events"]["RepairSweep"]["Properties"]["State"] == {"Ref": "RepairSweepState"}
    handler_knows = any(
        isinstance(node, ast.Constant) and node.value == "reconcile"
        for path in (ROOT / "bot").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
    )
    default = template["Parameters"]["RepairSweepState"]["Default"]
    # One way only: a handler that ignores detail.task would post a report every sweep.
    assert handler_knows or default == "DISABLED", "bot/ does not handle the reconcile task yet"


def test_the_daily_report_defaults_to_weekdays_at_nine_utc(template: dict[str, Any], function: dict[str, Any]) -> None:
    assert function["Events"]["DailyReport"]["Properties"]["Schedule"] == {"Ref": "ReportSchedule"}
    assert template["Parameters"]["ReportSchedule"]["Default"] == "cron(0 9 ? * MON-FRI *)"


def test_the_function_knows_the_report_schedule_app_home_announces(function: dict[str, Any]) -> None:
    assert function["Environment"]["Variables"]["REAPER_REPORT_SCHEDULE"] == {"Ref": "ReportSchedule"}


def test_slack_reaches_the_function_at_post_slack_events(template: dict[str, Any], function: dict[str, Any]) -> None:
    api = function["Events"]["SlackEvents"]
    assert api["Type"] == "HttpApi"
    assert (api["Properties"]["Path"], api["Properties"]["Method"]) == ("/slack/events", "POST")
    assert template["Outputs"]["SlackRequestUrl"]["Value"]["Fn::Sub"].endswith("/slack/events")


# -- configuration --------------------------------------------------------------------------


def test_the_function_sets_only_variables_the_code_reads(function: dict[str, Any]) -> None:
    names = set(function["Environment"]["Variables"])
    ours = {n for n in names if not n.startswith("POWERTOOLS_")}
    assert ours <= env_names_in_code()


def test_every_variable_the_code_reads_is_set_or_deliberately_defaulted(function: dict[str, Any]) -> None:
    names = set(function["Environment"]["Variables"])
    assert env_names_in_code() - DEFAULTED_IN_LAMBDA <= names


def test_parameters_cover_regions_channel_approvers_thresholds_and_the_secret(template: dict[str, Any]) -> None:
    variables = template["Resources"]["ReaperFunction"]["Properties"]["Environment"]["Variables"]
    for variable in ("REAPER_CHANNEL", "REAPER_APPROVERS", "REAPER_SLACK_SECRET", "REAPER_LOOKBACK_DAYS",
                     "REAPER_CPU_PERCENT", "REAPER_CPU_PEAK_PERCENT", "REAPER_NETWORK_MB", "REAPER_MIN_DAYS",
                     "REAPER_KEEP_DAYS", "REAPER_DRY_RUN", "REAPER_AUTO_STOP_AFTER"):
        assert variables[variable]["Ref"] in template["Parameters"], variable
    assert "HasScanRegions" in json.dumps(variables["REAPER_REGIONS"])


def test_dry_run_and_the_grace_period_stop_are_off_by_default_and_their_defaults_parse(
    template: dict[str, Any],
) -> None:
    from reaper.settings import Settings

    parameters = template["Parameters"]
    env = {"AWS_REGION": "us-east-1", "REAPER_DRY_RUN": str(parameters["DryRun"]["Default"]),
           "REAPER_AUTO_STOP_AFTER": str(parameters["AutoStopAfter"]["Default"])}
    settings = Settings.from_env(env)
    assert (settings.dry_run, settings.auto_stop_after) == (False, None)
    assert Settings.from_env({**env, "REAPER_DRY_RUN": "true", "REAPER_AUTO_STOP_AFTER": "3"}).auto_stop_after == 3


# -- storage --------------------------------------------------------------------------------


def _key_schema(entries: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(e["AttributeName"], e["KeyType"]) for e in entries]


def test_the_table_has_the_pynamodb_models_keys_and_indexes(resources: dict[str, Any]) -> None:
    table = resources["DecisionsTable"]["Properties"]
    schema = DecisionItem._get_schema()
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]
    }
    assert _key_schema(table["KeySchema"]) == _key_schema(schema["key_schema"])
    assert {
        i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
        for i in table["GlobalSecondaryIndexes"]
    } == {
        i["index_name"]: (_key_schema(i["key_schema"]), i["projection"]["ProjectionType"])
        for i in schema["global_secondary_indexes"]
    }
    assert not schema["local_secondary_indexes"] and "LocalSecondaryIndexes" not in table


def test_the_table_expires_items_on_the_models_ttl_attribute(resources: dict[str, Any]) -> None:
    ttl = [a.attr_name for a in DecisionItem.get_attributes().values() if type(a).__name__ == "TTLAttribute"]
    spec = resources["DecisionsTable"]["Properties"]["TimeToLiveSpecification"]
    assert spec == {"AttributeName": ttl[0], "Enabled": True}


def test_the_table_is_on_demand_recoverable_and_encrypted(resources: dict[str, Any]) -> None:
    table = resources["DecisionsTable"]
    props = table["Properties"]
    assert props["BillingMode"] == DecisionItem.Meta.billing_mode == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_the_audit_bucket_is_private_versioned_encrypted_and_aged(resources: dict[str, Any]) -> None:
    props = resources["AuditBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    rules = props["LifecycleConfiguration"]["Rules"]
    assert rules and all("NoncurrentVersionExpiration" in r for r in rules)
    # Records are far below S3's 128 KB transition minimum: a transition rule would never apply.
    assert not [r for r in rules if "Transitions" in r or "Transition" in r]


def test_the_bucket_policy_refuses_plain_http_and_deleting_records(resources: dict[str, Any]) -> None:
    statements = resources["AuditBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert all(s["Effect"] == "Deny" for s in statements)
    tls = [s for s in statements if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls
    denied = {a for s in statements for a in as_list(s["Action"])}
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= denied


def test_a_reserved_concurrency_of_zero_is_refused_at_deploy(template: dict[str, Any]) -> None:
    [assertion] = template["Rules"]["ConcurrencyIsNotZero"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, "0"]}]}


# -- Keep, mirrored to one tag (issue 14) ----------------------------------------------------


def test_the_role_may_create_the_keep_until_tag_and_no_other_key(template: dict[str, Any]) -> None:
    [grant] = [s for s in policy_statements(template) if "ec2:CreateTags" in as_list(s["Action"])]
    from reaper.keeps import KEEP_TAG

    assert grant["Effect"] == "Allow" and as_list(grant["Action"]) == ["ec2:CreateTags"]
    assert grant["Resource"]["Fn::Sub"].endswith(":instance/*")  # instances only, no other resource type
    condition = grant["Condition"]
    # Every key of the request must be exactly this one, case-sensitively (values are compared as
    # written; only condition key names are case-insensitive) ...
    assert condition["ForAllValues:StringEquals"] == {"aws:TagKeys": [KEEP_TAG]}
    # ... and the request must carry it: ForAllValues alone holds for a request with no tag keys.
    assert condition["ForAnyValue:StringEquals"] == {"aws:TagKeys": [KEEP_TAG]}
    assert "aws:RequestedRegion" in condition["StringEquals"]
    assert not [op for op in condition if "IgnoreCase" in op or "Like" in op]


def test_no_other_statement_allows_tagging(template: dict[str, Any]) -> None:
    tagging = [s for s in _allowed(template) for a in as_list(s["Action"]) if "Tags" in a or "tag" in a.lower()]
    assert [s["Sid"] for s in tagging] == ["MirrorKeepsToOneTag"]


def _tag_keys_allowed(condition: dict[str, Any], keys: list[str]) -> bool:
    """The grant's aws:TagKeys operators on a request's tag keys, as the IAM User Guide defines the
    multivalued set operators ("Single-valued vs. multivalued context keys"): ForAllValues holds when
    every request value matches one of the policy's (so also for no values at all), ForAnyValue when
    at least one does. StringEquals compares values exactly, case included."""
    results = []
    for operator, keyed in condition.items():
        if "aws:TagKeys" not in keyed:
            continue
        wanted = as_list(keyed["aws:TagKeys"])
        qualifier, compare = operator.split(":", 1)
        assert compare == "StringEquals", operator
        matches = [key in wanted for key in keys]
        results.append(all(matches) if qualifier == "ForAllValues" else any(matches))
    assert len(results) == 2
    return all(results)


@pytest.mark.parametrize(("keys", "allowed"), [
    (["reaper:keep-until"], True),
    ([], False),  # ForAllValues alone would allow a request with no tag keys
    (["Owner"], False),
    (["reaper:keep-until", "Owner"], False),
    (["Reaper:Keep-Until"], False),  # values are case-sensitive: only the spelling the code writes
    (["reaper:exempt"], False),  # above all, never the key that protects an instance from stopping
])
def test_the_tagging_grant_allows_exactly_the_keep_until_key(
    template: dict[str, Any], keys: list[str], allowed: bool
) -> None:
    [grant] = [s for s in policy_statements(template) if "ec2:CreateTags" in as_list(s["Action"])]

    assert _tag_keys_allowed(grant["Condition"], keys) is allowed
def test_shard_messages_reach_the_function_one_at_a_time_with_partial_failures(
    function: dict[str, Any], resources: dict[str, Any]
) -> None:
    shards = function["Events"]["Shards"]
    assert shards["Type"] == "SQS" and shards["Properties"]["Queue"] == {"Fn::GetAtt": ["ShardQueue", "Arn"]}
    assert shards["Properties"]["BatchSize"] == 1
    assert shards["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["ShardQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]  # AWS's advice for an event source
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["FailedInvocations", "Arn"]}
    assert function["Environment"]["Variables"]["REAPER_SHARD_QUEUE"] == {"Ref": "ShardQueue"}
