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


class Fault:
    """An injected AWS error: call it for how many responses it injected; remove() to heal."""

    def __init__(self, client: Any, event: str, handler: Callable[..., Any]) -> None:
        self._client, self._event, self._handler = client, event, handler
        self.injected = 0

    def __call__(self) -> int:
        return self.injected

    def remove(self) -> None:
        self._client.meta.events.unregister(self._event, self._handler)


def fail(
    client: Any,
    operation: str,
    code: str,
    *,
    times: int | None = None,
    status: int = 400,
    when: Callable[[bytes], bool] | None = None,
) -> Fault:
    """Make `operation` answer with the AWS error `code` (the next `times` calls, or always).

    The error is injected as the HTTP response at botocore's before-send hook, so it is
    parsed and retried by botocore exactly like one from the wire. `when` limits it to
    requests whose body it accepts.
    """
    left = [times]
    protocol = client.meta.service_model.protocol
    service = client.meta.service_model.service_id.hyphenize()
    event = f"before-send.{service}.{operation}"

    def respond(request: Any, **_: Any) -> AWSResponse | None:
        if left[0] == 0:
            return None
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        if when is not None and not when(body):
            return None
        if left[0] is not None:
            left[0] -= 1
        fault.injected += 1
        content, headers = _error_body(protocol, code)
        return AWSResponse(request.url, status, headers, _Raw(content))  # type: ignore[arg-type]

    fault = Fault(client, event, respond)
    client.meta.events.register_first(event, respond)
    return fault
