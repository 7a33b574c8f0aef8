"""`python -m demo.seed`: launch the demo fleet into whatever AWS_ENDPOINT_URL points at (LocalStack).

The same fleet `make demo` uses (demo.fleet), in the regions of REAPER_REGIONS, through the
core's own client factory. Seeding twice does nothing the second time: a region that already
runs an instance named like the fleet is left alone.
"""

from __future__ import annotations

import sys
from typing import Any

from demo.fleet import demo_fleet, launch
from reaper.aws.clients import Clients
from reaper.errors import ReaperError
from reaper.settings import Settings


def main() -> int:
    try:
        settings = Settings.from_env()
    except ReaperError as error:
        print(f"demo.seed: error: {error}", file=sys.stderr)
        return 2
    if settings.endpoint_url is None:
        print("demo.seed: error: AWS_ENDPOINT_URL is not set; refusing to launch instances in real AWS",
              file=sys.stderr)
        return 2

    client = Clients(settings).client

    regions = list(settings.regions)
    fleet = demo_fleet(regions)
    seeded = _seeded(client, fleet)  # one DescribeInstances per region
    todo = [m for m in fleet if m.region not in seeded]
    if not todo:
        print(f"demo fleet already running in {', '.join(regions)}")
        return 0
    ids = launch(client, todo)
    for name, instance_id in ids.items():
        print(f"{instance_id}  {name}")
    print(f"seeded {len(ids)} instances in {', '.join(sorted({m.region for m in todo}))}", file=sys.stderr)
    return 0


def _seeded(client: Any, fleet: list[Any]) -> set[str]:
    """Regions where an instance of the fleet (by Name tag) is already pending or running."""
    found: set[str] = set()
    for region in sorted({m.region for m in fleet}):
        names = [m.name for m in fleet if m.region == region]
        response = client("ec2", region).describe_instances(Filters=[
            {"Name": "tag:Name", "Values": names},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ])
        if any(r.get("Instances") for r in response.get("Reservations", [])):
            found.add(region)
    return found


if __name__ == "__main__":
    sys.exit(main())
