"""Findings as plain JSON and back: what a fanned-out shard stores for the report (reaper.fanout).

Not Finding.to_json, which is the scan document for people and rounds its figures: this keeps
every field a report renders and a row records (instance, verdict with its evidence, skip,
cost), so a report assembled from stored shards reads exactly as one scanned in one go. Of the
tags only those a report reads are kept (Name, and reaper:* as the grace period and the
keep-until note read them; the owner travels as Finding.owner): eligibility has used the rest already,
and an instance's dozens of tags would otherwise decide how big a shard may be (one DynamoDB
item). Compressed (zlib) by `pack`: a shard's findings repeat the same keys thousands of times.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from reaper.model import Evidence, Finding, Instance, Skip, SkipReason, Verdict, VerdictKind
from reaper.money import InstanceCost


def pack(findings: Iterable[Finding]) -> bytes:
    rows = [finding_json(f) for f in findings]
    return zlib.compress(json.dumps(rows, separators=(",", ":")).encode(), 6)


def unpack(data: bytes) -> list[Finding]:
    return [finding_from(row) for row in json.loads(zlib.decompress(data))]


def finding_json(finding: Finding) -> dict[str, Any]:
    inst, verdict, ev = finding.instance, finding.verdict, finding.verdict.evidence
    cost = finding.cost
    return {
        "i": {**{name: getattr(inst, name) for name in _INSTANCE_PLAIN}, "launch_time": inst.launch_time.isoformat(),
              "tags": {k: v for k, v in inst.tags.items() if _reported(k)}, "volume_ids": list(inst.volume_ids)},
        "v": {"kind": verdict.kind.value, "reason": verdict.reason,
              "e": {**{name: getattr(ev, name) for name in _EVIDENCE_PLAIN},
                    "peak_cpu_day": ev.peak_cpu_day.isoformat() if ev.peak_cpu_day else None,
                    "daily_cpu": list(ev.daily_cpu)}},
        "s": [finding.skip.reason.value, finding.skip.detail] if finding.skip else None,
        "c": [cost.compute_hourly, cost.storage_monthly, cost.ipv4_hourly, cost.kept_ipv4_hourly] if cost else None,
        "o": finding.owner,
    }


def finding_from(row: Mapping[str, Any]) -> Finding:
    i, v, e = row["i"], row["v"], row["v"]["e"]
    instance = Instance(
        **{name: i[name] for name in _INSTANCE_PLAIN},
        launch_time=datetime.fromisoformat(i["launch_time"]),
        tags=MappingProxyType(dict(i["tags"])),
        volume_ids=tuple(i["volume_ids"]),
    )
    evidence = Evidence(**{name: e[name] for name in _EVIDENCE_PLAIN},
                        peak_cpu_day=date.fromisoformat(e["peak_cpu_day"]) if e["peak_cpu_day"] else None,
                        daily_cpu=tuple(e.get("daily_cpu") or ()))
    skip = Skip(SkipReason(row["s"][0]), row["s"][1]) if row["s"] else None
    cost = InstanceCost(*row["c"]) if row["c"] else None
    return Finding(instance, Verdict(VerdictKind(v["kind"]), evidence, v["reason"]), skip, cost, row.get("o"))


def _reported(key: str) -> bool:
    """Name (Instance.name) and the reaper's own tags, read case-insensitively as reaper.grace and reaper.keeps do."""
    return key == "Name" or key.strip().lower().startswith("reaper:")


_INSTANCE_PLAIN = ("instance_id", "region", "instance_type", "state", "root_device_type", "lifecycle",
                   "spot_request_id", "platform", "tenancy", "public_ips", "elastic_ips", "account", "account_name",
                   "hibernation_configured")
_EVIDENCE_PLAIN = ("days_observed", "peak_cpu_percent", "average_cpu_percent", "network_mb_per_day",
                   "peak_network_mb", "busy_days", "peak_only_busy_days", "peak_day_network_mb")
