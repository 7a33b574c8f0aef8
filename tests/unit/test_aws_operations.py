"""testkit.aws_operations names the operation of each AWS protocol as the e2e recorder and the benchmark count it."""

from __future__ import annotations

import io
from typing import Any

from testkit.aws_operations import Operation, is_emulator_api, operation_of

AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261202/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"


def environ(service: str, region: str = "us-east-1", *, method: str = "POST", path: str = "/",
            body: bytes = b"", **extra: str) -> dict[str, Any]:
    return {"REQUEST_METHOD": method, "PATH_INFO": path,
            "HTTP_AUTHORIZATION": AUTH.format(region=region, service=service),
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), **extra}


def test_a_json_protocol_call_is_named_by_its_target_header():
    call = environ("dynamodb", "eu-west-1", HTTP_X_AMZ_TARGET="DynamoDB_20120810.UpdateItem")

    assert operation_of(call) == Operation("dynamodb", "eu-west-1", "UpdateItem")


def test_a_smithy_rpc_call_is_named_by_its_path():
    call = environ("monitoring", path="/service/GraniteServiceVersion20100801/operation/GetMetricData")

    assert operation_of(call) == Operation("monitoring", "us-east-1", "GetMetricData")


def test_a_query_call_is_named_by_its_action_and_its_body_is_left_readable():
    body = b"Action=StopInstances&Version=2016-11-15&InstanceId.1=i-0abc"
    call = environ("ec2", body=body, CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8")

    assert operation_of(call) == Operation("ec2", "us-east-1", "StopInstances")
    assert call["wsgi.input"].read() == body  # the emulator behind still reads the whole request


def test_lambda_invoke_is_named_and_other_rest_calls_keep_method_and_path():
    invoke = environ("lambda", path="/2015-03-31/functions/instance-reaper/invocations")
    put = environ("s3", method="PUT", path="/audit/decisions/2026/12/02/d/1-claimed.json")

    assert operation_of(invoke).name == "Invoke"
    assert operation_of(put).name == "PUT /audit/decisions/2026/12/02/d/1-claimed.json"


def test_the_emulators_own_api_is_not_an_aws_call():
    assert is_emulator_api({"PATH_INFO": "/moto-api/reset"})
    assert not is_emulator_api({"PATH_INFO": "/"})
