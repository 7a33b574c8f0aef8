"""`python -m demo`: the reaper's real scan against an embedded AWS emulator and a seeded fleet.

No AWS account, Slack workspace or Docker needed: moto's server runs in this process on
127.0.0.1, and beside it a fake Price List API with made-up demo prices (moto has none);
`python -m reaper init` creates the table and bucket there, a demo fleet is launched in
two regions with 14 days of daily metrics, one instance is kept, and the scan prints its
report with what each idle instance costs. With --serve the emulator stays up afterwards, and the variables
to export are printed, so that `python -m reaper scan/stop/keep/status` can be tried
against the demo fleet from another terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn

import boto3

from demo.emulator import FAKE_CREDENTIALS, running
from demo.fleet import demo_fleet, launch
from demo.pricelist import PriceListServer, demo_prices
from reaper import cli

REGIONS = ("us-east-1", "eu-west-1")

ENVIRONMENT = """\
environment:
  The demo sets AWS_ENDPOINT_URL (its emulator) and fake credentials for itself; AWS_REGION
  (default us-east-1) and REAPER_REGIONS (default us-east-1,eu-west-1) are used if set, and
  so are REAPER_TABLE, REAPER_BUCKET and the idle policy's REAPER_* variables."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"demo: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m demo", description=__doc__, epilog=ENVIRONMENT,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the scan as one JSON document on stdout")
    parser.add_argument("--serve", action="store_true",
                        help="keep the emulator and its fleet running after the scan, until Ctrl-C")
    parser.add_argument("--port", type=int, default=0, help="the emulator's port with --serve (default: any free one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.monotonic()
    with running(args.port) as server, _price_list() as price_list:
        for variable, default in (("AWS_REGION", REGIONS[0]), ("REAPER_REGIONS", ",".join(REGIONS))):
            os.environ[variable] = os.environ.get(variable) or default
        say(f"Embedded AWS emulator (moto) on {server.url}")
        say(f"Demo Price List on {price_list.url}: made-up DEMO PRICES near AWS's list prices, not AWS's own\n")
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
        say(f"\nSeeded {len(fleet)} instances in {', '.join(regions)} with 14 days of metrics.")
        with contextlib.redirect_stdout(sys.stderr):
            if cli.main(["keep", ids["analytics-notebook"], "--by", "erin", "--days", "7"]) != 0:
                return 1
        say("")
        code = cli.main(["scan", *(["--json"] if args.json else [])])
        sys.stdout.flush()
        say("\nThe prices above are DEMO PRICES, made up near AWS's list prices: the emulator has no Price List.")
        say(f"Demo finished in {time.monotonic() - started:.1f} s.")
        if not args.serve:
            say(NEXT_STEPS)
            return code
        say(serving(url, ids))
        wait_for_interrupt()
    say("Emulator stopped; the demo fleet is gone.")
    return code


NEXT_STEPS = """
Next steps:
  python -m demo --serve   the same, then the emulator stays up: try `python -m reaper stop`,
                           `keep` and `status` on the demo fleet from another terminal
  make test                the whole test suite (moto on 127.0.0.1, no AWS or Slack needed)
  README.md                "Run locally with LocalStack" (the Slack bot in Socket Mode), then
                           "Deploy to AWS" (SAM)"""


@contextlib.contextmanager
def _price_list() -> Iterator[PriceListServer]:
    """moto has no Price List API: a fake one with demo prices, at AWS_ENDPOINT_URL_PRICING."""
    regions = (os.environ.get("REAPER_REGIONS") or ",".join(REGIONS)).split(",")
    previous = os.environ.get("AWS_ENDPOINT_URL_PRICING")
    with PriceListServer(demo_prices([os.environ.get("AWS_REGION") or REGIONS[0], *regions])) as price_list:
        os.environ["AWS_ENDPOINT_URL_PRICING"] = price_list.url
        try:
            yield price_list
        finally:
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL_PRICING", None)
            else:
                os.environ["AWS_ENDPOINT_URL_PRICING"] = previous


def serving(url: str, ids: dict[str, str]) -> str:
    """What to paste into another terminal to use the CLI against this emulator."""
    variables = {"AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_PRICING": os.environ["AWS_ENDPOINT_URL_PRICING"],
                 **FAKE_CREDENTIALS}
    for name in ("AWS_REGION", "REAPER_REGIONS", "REAPER_TABLE", "REAPER_BUCKET"):
        if os.environ.get(name):
            variables[name] = os.environ[name]
    exports = "\n".join(f"  export {name}={shlex.quote(value)}" for name, value in variables.items())
    return (
        "\nThe emulator and the demo fleet stay up. In another terminal (in this directory, with .venv active):\n\n"
        f"{exports}\n\n"
        "  python -m reaper scan\n"
        f"  python -m reaper stop {ids['dev-alice-sandbox']} --by you    # dev-alice-sandbox\n"
        f"  python -m reaper keep {ids['staging-reports']} --days 3       # staging-reports\n"
        "  python -m reaper status\n"
        "  python -m reaper savings\n\n"
        "Serving until Ctrl-C."
    )


def wait_for_interrupt() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM, quietly."""
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
