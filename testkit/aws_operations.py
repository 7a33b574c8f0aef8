"""Which AWS operation a request is, read from the request as it reaches the emulator (a WSGI environ).

The one classifier of the e2e recorder (tests/e2e/aws_calls.py) and the benchmark's call
counter (bench/emulator.py): both count what reached "AWS", retries included, by reading the
wire rather than hooking our clients. Each protocol names its operation in its own place:

- JSON (DynamoDB, Secrets Manager, …): the `X-Amz-Target` header, `DynamoDB_20120810.Query`;
- Smithy RPC v2 CBOR (CloudWatch in current botocore): the path, `/service/…/operation/GetMetricData`;
- query (EC2, STS): `Action=…` in the form body, which is read and put back for the app behind;
- REST (S3, Lambda): method and path; Lambda's Invoke path is named `Invoke`, S3's stay `PUT /bucket/key`.

The service and region come from the SigV4 credential scope of the Authorization header.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_SMITHY = re.compile(r"/service/[^/]+/operation/([A-Za-z]+)")
_LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")


@dataclass(frozen=True)
class Operation:
    service: str  # as signed: "ec2", "monitoring", "dynamodb", "s3", "lambda"; "?" when unsigned
    region: str
    name: str  # "DescribeInstances", "UpdateItem", "GetMetricData", "Invoke", or "PUT /bucket/key"


def is_emulator_api(environ: dict[str, Any]) -> bool:
    """moto's own control API (`/moto-api/reset`, …): not an AWS call."""
    return str(environ.get("PATH_INFO", "")).startswith("/moto-api")


def operation_of(environ: dict[str, Any]) -> Operation:
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    region, service = scope.groups() if scope else ("?", "?")
    path = str(environ.get("PATH_INFO", ""))
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return Operation(service, region, target.rsplit(".", 1)[-1])
    smithy = _SMITHY.search(path)
    if smithy:
        return Operation(service, region, smithy.group(1))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        if action:
            return Operation(service, region, action)
    if service == "lambda" and _LAMBDA_INVOKE.match(path):
        return Operation(service, region, "Invoke")
    return Operation(service, region, f"{environ.get('REQUEST_METHOD')} {path}")
