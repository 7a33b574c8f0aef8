"""The scan against moto's server over HTTP: regions, eligibility rules, pagination and batching."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config

from demo.fleet import AMI, NIGHTLY_AVERAGE, Machine
from reaper import bootstrap, decisions
from reaper.aws.cloudwatch import MAX_QUERIES, CloudWatchGateway
from reaper.aws.ec2 import Ec2Gateway
from reaper.errors import AwsUnavailable, MetricsIncomplete
from reaper.model import SkipReason, VerdictKind
from reaper.ports import Services
from reaper.scan import find_idle
from reaper.settings import Settings
from tests.aws import HOME, OTHER, AwsEnv
from tests.calls import CallLog
from tests.integration.conftest import Seed, busy, quiet


def counted(aws: AwsEnv, log: CallLog) -> Services:
    """Services whose EC2 and CloudWatch clients report every call to `log`."""
    return aws.services(
        ec2=lambda r: Ec2Gateway(log.attach(aws.client("ec2", r)), r),
        metrics=lambda r: CloudWatchGateway(log.attach(aws.client("cloudwatch", r)), r),
    )


def report_day(offset: int) -> date:
    """Today's UTC date plus `offset` days (the seeded fleet's last day is yesterday, -1)."""
    return datetime.now(UTC).date() + timedelta(days=offset)


def by_name(report: Any) -> dict[str, Any]:
    return {f.instance.name: f for f in report.findings}


def test_idle_busy_and_new_instances_get_their_verdicts_in_two_regions(services: Services, seed: Seed) -> None:
    seed([
        quiet("idle-home"),
        busy("busy-home"),
        Machine("new-home", HOME, [None] * 12 + [0.1, 0.1], [None] * 12 + [0.1, 0.1]),
        quiet("idle-other", OTHER),
        Machine("silent-other", OTHER, [None] * 14, [None] * 14),
    ])

    report = find_idle(services)

    found = by_name(report)
    assert set(report.regions) == {HOME, OTHER}
    assert found["idle-home"].proposed and found["idle-other"].proposed
    assert found["idle-other"].instance.region == OTHER
    assert found["busy-home"].verdict.kind is VerdictKind.BUSY
    assert found["new-home"].verdict.kind is VerdictKind.INSUFFICIENT_DATA
    assert found["silent-other"].verdict.kind is VerdictKind.INSUFFICIENT_DATA
    assert found["silent-other"].verdict.evidence.peak_cpu_percent is None
    assert {f.instance.name for f in report.proposed} == {"idle-home", "idle-other"}


def test_evidence_carries_the_metrics_and_tags(services: Services, seed: Seed) -> None:
    seed([Machine("dev-box", HOME, [1.0] * 13 + [3.0], [2.0] * 14, "m5.large", "alice")])

    (finding,) = find_idle(services).findings

    ev = finding.verdict.evidence
    assert ev.days_observed == 14
    assert abs(ev.peak_cpu_percent - 3.0) < 1e-9  # type: ignore[operator]
    assert abs(ev.network_mb_per_day - 2.0) < 1e-6  # type: ignore[operator]
    assert (finding.instance.name, finding.owner, finding.instance.instance_type) == (
        "dev-box", "alice", "m5.large"
    )


def test_each_eligibility_rule_keeps_an_idle_instance_off_the_proposal(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    ids = seed([
        quiet("plain"),
        quiet("exempt", tags={"reaper:exempt": "true"}),
        quiet("not-exempt", tags={"reaper:exempt": "false"}),
        quiet("asg", tags={"aws:autoscaling:groupName": "web"}),
        quiet("eks", tags={"eks:cluster-name": "main"}),
        quiet("karpenter", tags={"karpenter.sh/nodepool": "default"}),
        quiet("emr", tags={"aws:elasticmapreduce:job-flow-id": "j-1",
                           "aws:elasticmapreduce:instance-group-role": "CORE"}),
        quiet("ec2-fleet", tags={"aws:ec2:fleet-id": "fleet-1"}),
        quiet("spot-fleet", tags={"aws:ec2spot:fleet-request-id": "sfr-1"}),
        quiet("batch", tags={"AWSBatchServiceTag": "batch"}),
        quiet("beanstalk", tags={"elasticbeanstalk:environment-id": "e-1"}),
        quiet("cloud9", tags={"aws:cloud9:environment": "abc"}),
        quiet("Exempt-capitals", tags={"Reaper:Exempt": "yes"}),
        quiet("spot", spot=True),
        quiet("protected", stop_protected=True),
        quiet("kept"),
    ])
    decisions.keep_instance(services, ids["kept"], "alice", region=HOME)

    found = by_name(find_idle(services))

    assert found["plain"].proposed and found["not-exempt"].proposed
    assert {name: found[name].skip.reason for name in found if not found[name].proposed} == {  # type: ignore[union-attr]
        "exempt": SkipReason.EXEMPT,
        "asg": SkipReason.AUTOSCALING,
        "eks": SkipReason.KUBERNETES,
        "karpenter": SkipReason.KUBERNETES,
        "emr": SkipReason.EMR,
        "ec2-fleet": SkipReason.EC2_FLEET,
        "spot-fleet": SkipReason.SPOT_FLEET,
        "batch": SkipReason.BATCH,
        "beanstalk": SkipReason.BEANSTALK,
        "cloud9": SkipReason.CLOUD9,
        "Exempt-capitals": SkipReason.EXEMPT,
        "spot": SkipReason.SPOT,
        "protected": SkipReason.STOP_PROTECTION,
        "kept": SkipReason.KEPT,
    }


def test_stop_protection_is_asked_only_for_idle_candidates(services: Services, seed: Seed, aws: AwsEnv) -> None:
    seed([quiet("idle"), busy("busy-1"), busy("busy-2"), quiet("exempt", tags={"reaper:exempt": "yes"})])
    log = CallLog()

    find_idle(counted(aws, log), [HOME])

    assert log.counts["DescribeInstanceAttribute"] == 1
    assert log.params["DescribeInstanceAttribute"][0]["Attribute"] == "disableApiStop"


def test_stopped_instances_are_not_scanned(services: Services, seed: Seed, aws: AwsEnv) -> None:
    ids = seed([quiet("running"), quiet("stopped")])
    aws.client("ec2").stop_instances(InstanceIds=[ids["stopped"]])

    assert [f.instance.name for f in find_idle(services).findings] == ["running"]


@pytest.mark.slow
def test_a_thousand_instances_cost_the_lower_bound_of_calls(services: Services, aws: AwsEnv, seed: Seed) -> None:
    # moto pages DescribeInstances by reservation: 1 050 reservations of one instance
    # each make a second page. Metrics only for a few of them (moto's GetMetricData
    # scans every datapoint per query, see the README).
    ec2 = aws.client("ec2", config=Config(max_pool_connections=8))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1), range(1050)))
    seed([quiet("watched-1"), quiet("watched-2")])
    n = 1052
    log = CallLog()

    report = find_idle(counted(aws, log), [HOME])

    assert len(report.findings) == n
    assert {f.instance.name for f in report.proposed} == {"watched-1", "watched-2"}
    assert len(report.insufficient) == n - 2
    assert log.counts["DescribeInstances"] == math.ceil(n / 1000) == 2
    assert log.counts["GetMetricData"] == math.ceil(4 * n / 500) == 9
    sizes = [len(p["MetricDataQueries"]) for p in log.params["GetMetricData"]]
    assert max(sizes) <= MAX_QUERIES
    assert sum(sizes) == 4 * n
    assert all(p["MaxResults"] == 1000 for p in log.params["DescribeInstances"])
    assert log.counts["DescribeInstanceAttribute"] == 2
    assert "GetMetricStatistics" not in log.counts


@pytest.mark.parametrize(("n", "calls"), [(125, 1), (126, 2)])
def test_four_queries_an_instance_fill_a_call_at_125_instances(aws: AwsEnv, n: int, calls: int) -> None:
    # 126 instances are 504 queries, over GetMetricData's 500: a second call, and the
    # instances either side of the call boundary keep their own average and peak.
    from datetime import UTC, datetime, time

    from demo.fleet import put_daily_metrics

    ids = [f"i-{k:017x}" for k in range(n)]
    today = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
    cloudwatch = aws.client("cloudwatch")
    for k in (n - 2, n - 1):
        put_daily_metrics(cloudwatch, ids[k], [float(k)] * 3, [1.0] * 3, today, cpu_peak=[k + 50.0] * 3)
    log = CallLog()

    usage = CloudWatchGateway(log.attach(cloudwatch), HOME).daily_usage(ids, today - timedelta(days=3), today)

    assert log.counts["GetMetricData"] == math.ceil(4 * n / MAX_QUERIES) == calls
    assert sorted(len(p["MetricDataQueries"]) for p in log.params["GetMetricData"]) == sorted(
        [MAX_QUERIES] * (calls - 1) + [4 * n - MAX_QUERIES * (calls - 1)]
    )
    for k in (n - 2, n - 1):
        assert [(d.cpu_percent, d.cpu_peak_percent) for d in usage[ids[k]]] == [(float(k), k + 50.0)] * 3
        assert [d.network_mb for d in usage[ids[k]]] == pytest.approx([1.0] * 3)
    assert usage[ids[0]] == []


def test_metric_batches_follow_next_token(aws: AwsEnv) -> None:
    # A NextToken page from AWS must be followed with the same queries until exhausted.
    from botocore.stub import Stubber

    client = aws.client("cloudwatch")
    gateway = CloudWatchGateway(client, HOME)
    from datetime import UTC, datetime

    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData", lambda params, **_: sent.append(dict(params))
    )
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", {
            "MetricDataResults": [{"Id": "m0", "Timestamps": [start], "Values": [1.5], "StatusCode": "PartialData"}],
            "NextToken": "page-2",
        })
        stub.add_response("get_metric_data", {
            "MetricDataResults": [
                {"Id": "m0", "Timestamps": [datetime(2026, 11, 2, tzinfo=UTC)], "Values": [2.5],
                 "StatusCode": "Complete"},
            ],
        }, expected_params=None)
        usage = gateway.daily_usage(["i-1"], start, end)
        stub.assert_no_pending_responses()

    assert [d.cpu_percent for d in usage["i-1"]] == [1.5, 2.5]
    first, second = sent
    assert "NextToken" not in first and second.pop("NextToken") == "page-2"
    assert second == first  # the same queries and window, only the token added


def _network_results_fail(client: Any, status: str, times: int | None = None) -> None:
    """CloudWatch answers, but the NetworkIn/NetworkOut results (queries 2, 3 mod 4) carry `status`."""
    left = [times]

    def degrade(parsed: dict[str, Any], **_: Any) -> None:
        if left[0] == 0:
            return
        left[0] = None if left[0] is None else left[0] - 1
        for result in parsed["MetricDataResults"]:
            if int(result["Id"][1:]) % 4 >= 2:
                result.update(StatusCode=status, Timestamps=[], Values=[])

    client.meta.events.register("after-call.cloudwatch.GetMetricData", degrade)


def test_network_queries_that_fail_never_make_a_busy_instance_idle(services: Services, seed: Seed, aws: AwsEnv) -> None:
    # 1 % CPU but 10 GB a day: a proxy. Without its network data it would look idle.
    seed([Machine("proxy", HOME, [1.0] * 14, [10_000.0] * 14), quiet("idle-other", OTHER)])
    log = CallLog()
    broken = log.attach(aws.client("cloudwatch", HOME))
    _network_results_fail(broken, "InternalError")
    services = aws.services(
        metrics=lambda r: CloudWatchGateway(broken if r == HOME else aws.client("cloudwatch", r), r)
    )

    report = find_idle(services)

    assert [f.instance.name for f in report.proposed] == ["idle-other"]
    assert "InternalError for 2 of 4 queries" in report.errors[HOME]
    assert log.counts["GetMetricData"] == 2  # retried once, as AWS advises for InternalError


def test_a_forbidden_metric_fails_the_region_without_a_retry(services: Services, seed: Seed, aws: AwsEnv) -> None:
    seed([Machine("proxy", HOME, [1.0] * 14, [10_000.0] * 14)])
    log = CallLog()
    broken = log.attach(aws.client("cloudwatch", HOME))
    _network_results_fail(broken, "Forbidden")

    with pytest.raises(AwsUnavailable, match="returned Forbidden for 2 of 4 queries"):  # its only region failed
        find_idle(aws.services(metrics=lambda r: CloudWatchGateway(broken, r)), [HOME])

    assert log.counts["GetMetricData"] == 1


def test_one_internal_error_is_retried_and_the_verdict_stands(services: Services, seed: Seed, aws: AwsEnv) -> None:
    seed([Machine("proxy", HOME, [1.0] * 14, [10_000.0] * 14)])
    log = CallLog()
    flaky = log.attach(aws.client("cloudwatch", HOME))
    _network_results_fail(flaky, "InternalError", times=1)

    report = find_idle(aws.services(metrics=lambda r: CloudWatchGateway(flaky, r)), [HOME])

    (finding,) = report.findings
    assert finding.verdict.kind is VerdictKind.BUSY and not report.errors
    assert log.counts["GetMetricData"] == 2


def test_a_result_whose_values_do_not_match_its_timestamps_fails_the_region(aws: AwsEnv) -> None:
    from datetime import UTC, datetime

    from botocore.stub import Stubber

    client = aws.client("cloudwatch")
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)
    with Stubber(client) as stub, pytest.raises(MetricsIncomplete, match="2 timestamps and 1 values"):
        stub.add_response("get_metric_data", {"MetricDataResults": [
            {"Id": "m0", "Timestamps": [start, end], "Values": [1.5], "StatusCode": "Complete"},
        ]})
        CloudWatchGateway(client, HOME).daily_usage(["i-1"], start, end)


def test_a_region_that_fails_is_reported_and_the_others_still_scanned(
    services: Services, seed: Seed, aws: AwsEnv
) -> None:
    from tests.calls import fail

    seed([quiet("home-idle"), quiet("other-idle", OTHER)])
    broken = aws.client("ec2", OTHER)
    fail(broken, "DescribeInstances", "UnauthorizedOperation")
    scan_services = aws.services(ec2=lambda r: Ec2Gateway(broken if r == OTHER else aws.client("ec2", r), r))

    report = find_idle(scan_services)

    assert [f.instance.name for f in report.proposed] == ["home-idle"]
    assert "UnauthorizedOperation" in report.errors[OTHER]


def test_metrics_that_fail_in_one_region_fail_that_region_only(services: Services, seed: Seed, aws: AwsEnv) -> None:
    from tests.calls import fail

    seed([quiet("home-idle"), quiet("other-idle", OTHER)])
    broken = aws.client("cloudwatch", OTHER)
    fail(broken, "GetMetricData", "AccessDenied", status=403)
    scan_services = aws.services(
        metrics=lambda r: CloudWatchGateway(broken if r == OTHER else aws.client("cloudwatch", r), r)
    )

    report = find_idle(scan_services)

    assert [f.instance.name for f in report.findings] == ["home-idle"]
    assert "AccessDenied" in report.errors[OTHER]


def test_describe_pages_of_every_region_are_parsed_on_one_thread(services: Services, seed: Seed, aws: AwsEnv) -> None:
    # Memory: a 1 000-instance page parses into a ~25 MB XML tree, and glibc keeps a heap
    # per thread, so regions parsing on threads of their own each keep such a peak.
    import threading

    seed([quiet("home-idle"), quiet("other-idle", OTHER)])
    parsed_on: list[int] = []

    def ec2(region: str) -> Ec2Gateway:
        client = aws.client("ec2", region)
        client.meta.events.register(
            "after-call.ec2.DescribeInstances", lambda **_: parsed_on.append(threading.get_ident())
        )
        return Ec2Gateway(client, region)

    report = find_idle(aws.services(ec2=ec2))

    assert {f.instance.name for f in report.proposed} == {"home-idle", "other-idle"}
    assert len(parsed_on) == 2 and len(set(parsed_on)) == 1


def test_timestamps_from_the_scan_clients_are_utc(services: Services, seed: Seed) -> None:
    from datetime import UTC

    seed([quiet("idle")])

    (finding,) = find_idle(services).findings

    assert finding.instance.launch_time.tzinfo is UTC


# -- peaks and rare jobs: what a daily average hides ------------------------------------------



def test_a_nightly_hour_at_full_cpu_is_busy_though_its_daily_average_looks_idle(
    services: Services, seed: Seed
) -> None:
    seed([
        Machine("nightly-batch", HOME, [NIGHTLY_AVERAGE] * 14, [1.0] * 14, cpu_peak=[100.0] * 14),
        quiet("idle"),
    ])

    report = find_idle(services, [HOME])

    found = by_name(report)
    assert NIGHTLY_AVERAGE <= services.settings.policy.cpu_percent
    assert found["nightly-batch"].verdict.kind is VerdictKind.BUSY
    assert found["idle"].proposed
    assert [f.instance.name for f in report.busy_by_peak] == ["nightly-batch"]
    evidence = found["nightly-batch"].verdict.evidence
    assert evidence.peak_cpu_percent == pytest.approx(100.0)
    assert evidence.peak_cpu_day == report_day(-1)  # every night alike: the latest, yesterday


def test_small_agent_spikes_under_the_peak_threshold_leave_an_idle_box_idle(services: Services, seed: Seed) -> None:
    # Package updates, the SSM and CloudWatch agents, cron: seconds of one core, a few times a day.
    spikes: list[float | None] = [6.0, 3.5, 12.0, 4.0, 8.5, 3.0, 17.5, 5.0, 4.5, 9.0, 3.0, 11.0, 4.0, 6.5]
    seed([Machine("quiet-box", HOME, [0.4] * 14, [0.3] * 14, cpu_peak=spikes)])

    (finding,) = find_idle(services, [HOME]).findings

    assert max(s for s in spikes if s is not None) <= services.settings.policy.cpu_peak_percent
    assert finding.proposed
    assert finding.verdict.evidence.peak_cpu_percent == pytest.approx(17.5)
    assert finding.verdict.evidence.peak_cpu_day == report_day(-8)  # the 7th of 14 days


def _monthly_job(days: int = 32, run_days_ago: int = 20) -> Machine:
    """A month-end hour at 100 % on one day, `run_days_ago` days before today; quiet otherwise."""
    cpu: list[float | None] = [0.3] * days
    peak: list[float | None] = [2.0] * days
    cpu[days - run_days_ago], peak[days - run_days_ago] = NIGHTLY_AVERAGE, 100.0
    return Machine("month-end", HOME, cpu, [0.2] * days, cpu_peak=peak)


def _lookback(aws: AwsEnv, days: int) -> Services:
    return bootstrap.build(Settings.from_env({**aws.env(), "REAPER_LOOKBACK_DAYS": str(days)}))


def test_a_monthly_job_is_busy_with_a_32_day_lookback(services: Services, seed: Seed, aws: AwsEnv) -> None:
    seed([_monthly_job()])

    (finding,) = find_idle(_lookback(aws, 32), [HOME]).findings

    assert finding.verdict.kind is VerdictKind.BUSY
    assert finding.verdict.evidence.days_observed == 32


def test_a_monthly_job_outside_a_14_day_lookback_is_idle(services: Services, seed: Seed, aws: AwsEnv) -> None:
    # The documented trade-off (README, "How it decides"): a window shorter than the job's
    # period cannot see it. Raise REAPER_LOOKBACK_DAYS to 32 where such jobs exist.
    seed([_monthly_job()])

    (finding,) = find_idle(_lookback(aws, 14), [HOME]).findings

    assert finding.proposed
    assert finding.verdict.evidence.days_observed == 14


def test_usage_since_reads_one_instance_from_the_reports_day_to_now_in_one_call(aws: AwsEnv, seed: Seed) -> None:
    ids = seed([quiet("idle")])
    instance_id = ids["idle"]
    aws.busy_now(instance_id, cpu=81.0, peak=97.0)
    log = CallLog()
    gateway = CloudWatchGateway(log.attach(aws.client("cloudwatch")), HOME)
    now = datetime.now(UTC)
    reported = now - timedelta(days=1)  # a row posted at this time yesterday

    usage = gateway.usage_since(instance_id, reported, now)

    assert log.counts == {"GetMetricData": 1}
    (params,) = log.params["GetMetricData"]
    assert params["StartTime"] == datetime.combine(reported.date(), datetime.min.time(), tzinfo=UTC)
    assert {q["MetricStat"]["Period"] for q in params["MetricDataQueries"]} == {86400}
    assert [d.day for d in usage] == [report_day(-1), report_day(0)]
    yesterday, today = usage
    assert (yesterday.cpu_percent, yesterday.cpu_peak_percent) == (0.5, 0.5)  # the seeded fleet's last day
    assert (today.cpu_percent, today.cpu_peak_percent) == (81.0, 97.0)
