"""FakeLambdaContext: the context object Lambda passes a handler, with the attributes Powertools and Bolt read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FakeLambdaContext:
    """What the Lambda runtime hands `lambda_handler` as its second argument.

    Powertools' Logger reads the function name, memory, ARN and request id into every log line;
    Bolt's Lambda adapter reads `invoked_function_arn`/`function_name` to invoke itself for lazy
    listeners. A benchmark that wants a distinct request id per invocation passes one.
    """

    function_name: str = "instance-reaper"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:instance-reaper"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/instance-reaper"
    log_stream_name: str = "fake"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
