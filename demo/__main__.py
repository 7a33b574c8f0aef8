"""`python -m demo`: the reaper's real scan against an embedded AWS emulator and a seeded fleet.

No AWS account, Slack workspace or Docker needed: moto's server runs in this process on
127.0.0.1, `python -m reaper init` creates the table and bucket there, a demo fleet is
launched in two regions with 14 days of daily metrics, one instance is kept, and the
scan prints its report.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

import boto3

from demo.emulator import running
from demo.fleet import demo_fleet, launch
from reaper import cli

REGIONS = ("us-east-1", "eu-west-1")


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.monotonic()
    with running() as server:
        for variable, default in (("AWS_REGION", REGIONS[0]), ("REAPER_REGIONS", ",".join(REGIONS))):
            os.environ[variable] = os.environ.get(variable) or default
        print(f"Embedded AWS emulator (moto) on {server.url}\n", file=sys.stderr)
        # Setting up is commentary: stdout carries only the scan, so `--json` output parses.
        with contextlib.redirect_stdout(sys.stderr):
            if cli.main(["init"]) != 0:
                return 1

        url = server.url

        def client(service: str, region: str) -> object:
            return boto3.client(service, region_name=region, endpoint_url=url)  # type: ignore[call-overload]

        regions = os.environ["REAPER_REGIONS"].split(",")
        fleet = demo_fleet(regions)
        ids = launch(client, fleet)
        print(f"\nSeeded {len(fleet)} instances in {', '.join(regions)} with 14 days of metrics.", file=sys.stderr)
        with contextlib.redirect_stdout(sys.stderr):
            if cli.main(["keep", ids["analytics-notebook"], "--by", "erin", "--days", "7"]) != 0:
                return 1
        print(file=sys.stderr)
        code = cli.main(["scan", *sys.argv[1:]])
        print(f"\nDemo finished in {time.monotonic() - started:.1f} s.", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
