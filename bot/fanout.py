"""The fanned-out report's Lambda side (issue 15): SQS events from the shard queue, and the post.

The shard queue triggers this same function (infra/template.yaml: an SQS event source, one
message a batch, partial batch responses). Each record's body is a message of reaper.fanout;
the core says when a run is ready, and this module only posts it. A record whose handling
raised is returned in `batchItemFailures`, so SQS redelivers that record alone (and after
`maxReceiveCount` moves it to the dead-letter queue); duplicates change nothing in the core.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.app import Runtime, report_failure_shown, web_client

log = logging.getLogger(__name__)


def is_queue_event(event: Any) -> bool:
    """An SQS event as Lambda delivers it: {"Records": [{"eventSource": "aws:sqs", ...}, ...]}."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return False
    return all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)


def handle_queue_event(runtime: Runtime, event: dict[str, Any], client: Any = None) -> dict[str, Any]:
    """Handle each record; the ones that failed, for SQS to deliver again (ReportBatchItemFailures)."""
    from reaper import fanout

    failures: list[dict[str, str]] = []
    posted = 0
    for record in event["Records"]:
        try:
            body = json.loads(record.get("body") or "{}")
            if not isinstance(body, dict) or not fanout.is_message(body):
                log.warning("queue message %s is not ours; dropped", record.get("messageId"))
                continue
            ready = fanout.receive(runtime.services, body)
            if ready is not None:
                client = client or web_client(runtime.config)
                post(runtime, client, ready)
                posted += 1
        except Exception:
            log.exception("queue message %s failed; SQS will deliver it again", record.get("messageId"))
            failures.append({"itemIdentifier": str(record.get("messageId"))})
    return {"batchItemFailures": failures, "posted": posted}


def post(runtime: Runtime, client: Any, ready: Any) -> None:
    """Post a run's report once it is claimed. The claim is already won, so a failure here is not
    retried (it would post twice if part of the report went out): the channel is told instead."""
    from bot.report import post_report

    channel = ready.run.channel or runtime.config.channel
    try:
        post_report(client, runtime.services, channel, ready.report, interval=runtime.config.post_interval,
                    notify_owners=runtime.config.notify_owners)
    except Exception as error:
        log.exception("fanned-out report %s could not be posted", ready.run.id)
        report_failure_shown(client, channel, error)
    log.info("fanned-out report %s posted (%s): %d shards, %d missing or failed", ready.run.id, ready.why,
             len(ready.run.shards), len(ready.report.errors))
