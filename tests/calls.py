"""Observe and perturb real boto3 clients through botocore's event hooks (no patching of our code)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse


class CallLog:
    """Counts API calls by operation, and remembers each call's parameters."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.params: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params.*.*", self._record)
        return client

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] += 1
            self.params.setdefault(model.name, []).append(dict(params))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _error_body(protocol: str, code: str) -> tuple[bytes, dict[str, str]]:
    message = f"injected {code}"
    if protocol == "ec2":
        xml = f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        return (xml + "<RequestID>injected</RequestID></Response>").encode(), {"content-type": "text/xml"}
    if protocol == "query":
        xml = f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        return (xml + "<RequestId>injected</RequestId></ErrorResponse>").encode(), {"content-type": "text/xml"}
    if protocol == "rest-xml":
        return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode(), {"content-type": "text/xml"}
    body = json.dumps({"__type": f"com.amazonaws#{code}", "message": message}).encode()
    return body, {"content-type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"}


def fail(client: Any, operation: str, code: str, *, times: int | None = None, status: int = 400) -> Callable[[], int]:
    """Make `operation` answer with the AWS error `code` (the next `times` calls, or always).

    The error is injected as the HTTP response at botocore's before-send hook, so it is
    parsed and retried by botocore exactly like one from the wire. Returns a function
    telling how many responses were injected.
    """
    left = [times]
    injected = [0]
    protocol = client.meta.service_model.protocol
    service = client.meta.service_model.service_id.hyphenize()

    def respond(request: Any, **_: Any) -> AWSResponse | None:
        if left[0] == 0:
            return None
        if left[0] is not None:
            left[0] -= 1
        injected[0] += 1
        body, headers = _error_body(protocol, code)
        return AWSResponse(request.url, status, headers, _Raw(body))  # type: ignore[arg-type]

    client.meta.events.register_first(f"before-send.{service}.{operation}", respond)
    return lambda: injected[0]
