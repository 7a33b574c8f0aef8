"""What the EC2 gateway reads for prices: platform, tenancy, volumes and public IPv4s (moto over HTTP)."""

from __future__ import annotations

import pytest

from demo.fleet import Machine
from reaper.aws.ec2 import Ec2Gateway, platform, public_ipv4s
from reaper.money import Volume
from tests.aws import HOME, AwsEnv
from tests.integration.conftest import Seed


def test_an_instance_carries_its_platform_tenancy_volumes_and_addresses(aws: AwsEnv, seed: Seed) -> None:
    ids = seed([Machine("win", HOME, [0.5] * 14, [0.5] * 14)])
    ec2 = Ec2Gateway(aws.client("ec2"), HOME)

    [[instance]] = list(ec2.running_pages())

    assert instance.instance_id == ids["win"]
    assert instance.platform == "Windows"  # moto's ami-12c6146b is a Windows image; moto sends no PlatformDetails
    assert instance.tenancy == "default"
    assert len(instance.volume_ids) == 1
    assert instance.public_ips + instance.elastic_ips == 1


def test_volumes_are_described_with_their_size_iops_and_throughput(aws: AwsEnv, seed: Seed) -> None:
    ids = seed([Machine("db", HOME, [0.5] * 14, [0.5] * 14)])
    client = aws.client("ec2")
    data = client.create_volume(AvailabilityZone=f"{HOME}a", Size=500, VolumeType="gp3", Iops=6000, Throughput=250)
    client.attach_volume(VolumeId=data["VolumeId"], InstanceId=ids["db"], Device="/dev/sdf")
    ec2 = Ec2Gateway(client, HOME)
    [[instance]] = list(ec2.running_pages())

    volumes = ec2.volumes(instance.volume_ids)

    assert data["VolumeId"] in instance.volume_ids
    assert volumes[data["VolumeId"]] == Volume(data["VolumeId"], "gp3", 500, 6000, 250)
    root = next(v for v in volumes.values() if v.volume_id != data["VolumeId"])
    assert (root.volume_type, root.size_gib) == ("gp2", 8)


def test_a_volume_deleted_since_the_describe_costs_nothing_and_fails_nothing(aws: AwsEnv) -> None:
    client = aws.client("ec2")
    kept = client.create_volume(AvailabilityZone=f"{HOME}a", Size=10, VolumeType="gp2")["VolumeId"]

    volumes = Ec2Gateway(client, HOME).volumes([kept, "vol-0123456789abcdef0"])

    assert list(volumes) == [kept]


@pytest.mark.parametrize(("raw", "expected"), [
    ({"PlatformDetails": "Linux/UNIX"}, "Linux/UNIX"),
    ({"PlatformDetails": "Windows with SQL Server Standard", "Platform": "windows"},
     "Windows with SQL Server Standard"),
    ({"Platform": "windows"}, "Windows"),  # no PlatformDetails (moto): Platform still tells Windows
    ({}, None),  # nothing says what it is: unknown, never Linux
])
def test_the_platform_is_what_ec2_bills_the_instance_as(raw: dict, expected: str | None) -> None:
    assert platform(raw) == expected


def _interface(*associations: dict) -> dict:
    primary, *secondary = associations
    return {"Association": primary, "PrivateIpAddresses": [{"Association": a} for a in associations]}


def test_auto_assigned_addresses_are_told_from_elastic_ips_by_their_owner() -> None:
    raw = {"NetworkInterfaces": [
        _interface({"PublicIp": "3.83.25.106", "IpOwnerId": "amazon"}),
        _interface({"PublicIp": "52.1.2.3", "IpOwnerId": "123456789012"},
                   {"PublicIp": "52.1.2.4", "IpOwnerId": "123456789012"}),
        {"PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.9"}]},
    ], "PublicIpAddress": "3.83.25.106"}

    assert public_ipv4s(raw) == (1, 2)  # each address once, though listed on its interface and its private IP


def test_an_instance_without_public_addresses_has_none() -> None:
    assert public_ipv4s({"NetworkInterfaces": [{"PrivateIpAddresses": [{"PrivateIpAddress": "10.0.0.9"}]}]}) == (0, 0)
