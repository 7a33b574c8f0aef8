"""SQS gateway: reaper.ports.ShardQueue, the messages that fan a report out (issue 15).

SendMessageBatch, ten messages a call (SQS's maximum). A batch entry SQS did not accept is
an AwsError naming its code: a shard message that was never sent would leave its shard to be
named missing at the deadline, and the caller should hear about it now.

IAM: sqs:SendMessage on the shard queue (SendMessageBatch is authorised as SendMessage).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from reaper.aws.clients import translated
from reaper.errors import AwsError

IAM_ACTIONS = ("sqs:SendMessage",)

BATCH = 10  # SendMessageBatch's maximum entries


class SqsShardQueue:
    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.url = url

    def send(self, messages: Sequence[Mapping[str, Any]], *, delay_seconds: int = 0) -> None:
        for start in range(0, len(messages), BATCH):
            entries = [{"Id": str(n), "MessageBody": json.dumps(body, sort_keys=True), "DelaySeconds": delay_seconds}
                       for n, body in enumerate(messages[start : start + BATCH])]
            with translated("SendMessageBatch"):
                answer = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)
            failed = answer.get("Failed") or []
            if failed:
                codes = ", ".join(sorted({str(f.get("Code")) for f in failed}))
                raise AwsError(f"SendMessageBatch: {len(failed)} of {len(entries)} messages not sent ({codes})",
                               str(failed[0].get("Code")))
