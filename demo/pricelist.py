"""A Price List Query API on 127.0.0.1: GetProducts over AWS's JSON 1.1 protocol, from a catalogue.

moto has no Price List API, so the demo and the tests run this one, reached by the
production code through AWS_ENDPOINT_URL_PRICING. It speaks what botocore sends (its
`pricing` service model, 2017-10-15): POST / with ``X-Amz-Target:
AWSPriceListService.GetProducts``, ``Content-Type: application/x-amz-json-1.1`` and a JSON
body of ServiceCode, Filters (Type, Field, Value), FormatVersion, NextToken and MaxResults
(1–100). It answers ``{"FormatVersion", "PriceList", "NextToken"}`` where every PriceList item
is a product as a JSON *string*, in the shape AWS documents
(https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/price-list-query-api.html):
``product`` (productFamily, attributes, sku), ``serviceCode``, and
``terms.OnDemand.<sku>.<offer>.priceDimensions.<rate>.pricePerUnit.USD``. Errors are JSON
1.1 errors (``{"__type": code, "Message": …}``, HTTP 400), which botocore parses and retries
like AWS's.

Filters: a Field is a product attribute (or ServiceCode, or productFamily); TERM_MATCH and
EQUALS match exactly, CONTAINS a substring, ANY_OF and NONE_OF a comma-separated list.

The prices in DEMO_PRICES are made up for the demo, near the public list prices of late 2025:
never use them for anything but a demo.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET = "AWSPriceListService.GetProducts"
ON_DEMAND = "JRTCKXETXF"  # AWS's offer term code for On Demand
RATE = "6YS6EN2CT7"
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_LOCATIONS = {
    "us-east-1": ("US East (N. Virginia)", "USE1"),
    "us-east-2": ("US East (Ohio)", "USE2"),
    "us-west-2": ("US West (Oregon)", "USW2"),
    "eu-west-1": ("EU (Ireland)", "EU"),
    "eu-central-1": ("EU (Frankfurt)", "EUC1"),
    "ap-southeast-2": ("Asia Pacific (Sydney)", "APS2"),
}

Product = dict[str, Any]


def _where(region: str) -> tuple[str, str]:
    return _LOCATIONS.get(region, (region, region.upper().replace("-", "")))


def _sku(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16].upper()


def product(service: str, family: str, region: str, attributes: dict[str, str], usd: float, unit: str,
            description: str) -> Product:
    """One product in the Price List's shape, with a single On Demand price dimension."""
    location, _ = _where(region)
    sku = _sku(service, family, region, *sorted(f"{k}={v}" for k, v in attributes.items()))
    return {
        "product": {
            "productFamily": family,
            "attributes": {"servicecode": service, "regionCode": region, "location": location,
                           "locationType": "AWS Region", **attributes},
            "sku": sku,
        },
        "serviceCode": service,
        "terms": {"OnDemand": {f"{sku}.{ON_DEMAND}": {
            "priceDimensions": {f"{sku}.{ON_DEMAND}.{RATE}": {
                "unit": unit,
                "endRange": "Inf",
                "description": description,
                "appliesTo": [],
                "rateCode": f"{sku}.{ON_DEMAND}.{RATE}",
                "beginRange": "0",
                "pricePerUnit": {"USD": f"{usd:.10f}"},
            }},
            "sku": sku,
            "effectiveDate": "2025-11-01T00:00:00Z",
            "offerTermCode": ON_DEMAND,
            "termAttributes": {},
        }}},
        "version": "20251101000000",
        "publicationDate": "2025-11-01T00:00:00Z",
    }


def compute(region: str, instance_type: str, usd: float, *, operating_system: str = "Linux",
            pre_installed_sw: str = "NA", license_model: str = "No License required", tenancy: str = "Shared",
            capacity_status: str = "Used", operation: str = "RunInstances") -> Product:
    _, prefix = _where(region)
    usage = ("" if region == "us-east-1" else f"{prefix}-") + f"BoxUsage:{instance_type}"
    return product("AmazonEC2", "Compute Instance", region, {
        "instanceType": instance_type, "operatingSystem": operating_system, "preInstalledSw": pre_installed_sw,
        "licenseModel": license_model, "tenancy": tenancy, "capacitystatus": capacity_status,
        "operation": operation, "usagetype": usage, "marketoption": "OnDemand",
    }, usd, "Hrs", f"${usd} per On Demand {operating_system} {instance_type} Instance Hour")


def ebs(region: str, volume_type: str, usd: float, *, family: str = "Storage", unit: str = "GB-Mo",
        usage: str | None = None) -> Product:
    _, prefix = _where(region)
    suffix = {"io1": "piops"}.get(volume_type, volume_type)
    usage = usage or {"Storage": f"EBS:VolumeUsage.{suffix}", "System Operation": f"EBS:VolumeP-IOPS.{suffix}",
                      "Provisioned Throughput": f"EBS:VolumeP-Throughput.{suffix}"}[family]
    usage = ("" if region == "us-east-1" else f"{prefix}-") + usage
    return product("AmazonEC2", family, region, {"volumeApiName": volume_type, "usagetype": usage},
                   usd, unit, f"${usd} per {unit} of {volume_type} - {region}")


def ipv4(region: str, usd: float, *, idle: bool = False) -> Product:
    _, prefix = _where(region)
    kind = "IdleAddress" if idle else "InUseAddress"
    return product("AmazonVPC", "VPC Public IPv4 Address", region, {
        "usagetype": f"{prefix}-PublicIPv4:{kind}", "group": "VPCPublicIPv4Address",
        "operation": "AssociateAddressVPC" if not idle else "",
    }, usd, "Hrs", f"${usd} per {'idle' if idle else 'in-use'} public IPv4 address per hour")


# Demo list prices (USD an hour, Linux, us-east-1); other regions cost 10 % more, Windows adds its licence.
_DEMO_LINUX = {
    "t3.micro": (0.0104, 2), "t3.small": (0.0208, 2), "t3.medium": (0.0416, 2), "t3.large": (0.0832, 2),
    "m5.large": (0.096, 2), "m5.xlarge": (0.192, 4), "m5.2xlarge": (0.384, 8), "m6i.large": (0.096, 2),
    "c6i.large": (0.085, 2), "c6i.2xlarge": (0.34, 8), "r6i.large": (0.126, 2), "r5.2xlarge": (0.504, 8),
    "m5d.large": (0.113, 2), "g5.xlarge": (1.006, 4), "p3.2xlarge": (3.06, 8), "r6g.xlarge": (0.2016, 4),
}


def demo_prices(regions: Sequence[str]) -> list[Product]:
    """The demo's catalogue: every demo instance type as Linux and Windows, EBS and IPv4, in `regions`."""
    products: list[Product] = []
    for n, region in enumerate(dict.fromkeys(regions)):
        factor = 1.0 if n == 0 else 1.1
        for instance_type, (linux, vcpus) in _DEMO_LINUX.items():
            licence = (0.0092 if instance_type.startswith("t3") else 0.046) * vcpus
            products.append(compute(region, instance_type, round(linux * factor, 4)))
            products.append(compute(region, instance_type, round((linux + licence) * factor, 4),
                                    operating_system="Windows", operation="RunInstances:0002"))
        products += [
            ebs(region, "gp2", round(0.10 * factor, 3)),
            ebs(region, "gp3", round(0.08 * factor, 3)),
            ebs(region, "gp3", 0.005, family="System Operation", unit="IOPS-Mo"),
            ebs(region, "gp3", 40.96, family="Provisioned Throughput", unit="GiBps-mo"),
            ebs(region, "io1", round(0.125 * factor, 3)),
            ebs(region, "io1", 0.065, family="System Operation", unit="IOPS-Mo"),
            ipv4(region, 0.005),
            ipv4(region, 0.005, idle=True),
        ]
    return products


class PriceListServer:
    """The fake endpoint. `calls` holds every GetProducts body received; faults can be queued."""

    def __init__(self, products: Iterable[Product] = (), *, port: int = 0, delay: float = 0.0) -> None:
        self.products: list[Product] = list(products)
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.scopes: list[str] = []  # "region/service" each request was signed for
        self._faults: list[tuple[int, str]] = []
        self._garbled = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> PriceListServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="price-list", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PriceListServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def fail_next(self, code: str, times: int = 1, status: int = 400) -> None:
        """Answer the next `times` calls with the AWS error `code` (e.g. ThrottlingException)."""
        with self._lock:
            self._faults.extend([(status, code)] * times)

    def garble_next(self, times: int = 1) -> None:
        """Answer the next `times` calls with a PriceList item that is not a product document."""
        with self._lock:
            self._garbled += times

    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.scopes.clear()

    def reset(self, products: Iterable[Product]) -> None:
        """A new catalogue, no calls recorded, no faults queued."""
        with self._lock:
            self.products = list(products)
            self.calls.clear()
            self.scopes.clear()
            self._faults.clear()
            self._garbled = 0

    # -- the protocol ---------------------------------------------------------------------

    def answer(self, target: str, body: dict[str, Any], scope: str = "") -> tuple[int, dict[str, Any]]:
        if target != TARGET:
            return 400, _error("UnknownOperationException", f"{target} is not an operation of this fake")
        with self._lock:
            self.calls.append(body)
            self.scopes.append(scope)
            fault = self._faults.pop(0) if self._faults else None
            garbled = self._garbled > 0
            self._garbled -= garbled
        if fault is not None:
            return fault[0], _error(fault[1], "injected by the test")
        try:
            matching = [p for p in self.products if _matches(p, body)]
        except ValueError as error:
            return 400, _error("InvalidParameterException", str(error))
        size = body.get("MaxResults", 100)
        if not isinstance(size, int) or not 1 <= size <= 100:
            return 400, _error("InvalidParameterException", "MaxResults must be between 1 and 100")
        query = _query_hash(body)
        start: int | None = 0
        if body.get("NextToken"):
            start = _offset(str(body["NextToken"]), query)
        if start is None:
            return 400, _error("InvalidNextTokenException", "The NextToken is not valid for this query")
        page = matching[start : start + size]
        items = [json.dumps(p) for p in page]
        if garbled:
            items = ['{"product": {"attributes": {}}, "terms": {"OnDemand": {"x": {"priceDimensions": '
                     '{"y": {"unit": "Hrs", "pricePerUnit": {"USD": "not a number"}}}}}}}'] + items[1:]
        answer: dict[str, Any] = {"FormatVersion": body.get("FormatVersion") or "aws_v1", "PriceList": items}
        if start + size < len(matching):
            answer["NextToken"] = _token(start + size, query)
        return 200, answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if fake.delay:
                    time.sleep(fake.delay)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    status, answer = 400, _error("SerializationException", "the body is not JSON")
                else:
                    scope = _SCOPE.search(self.headers.get("Authorization", ""))
                    status, answer = fake.answer(self.headers.get("X-Amz-Target", ""), body,
                                                 "/".join(scope.groups()) if scope else "")
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", _sku(str(time.time_ns())))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": code, "Message": message}


def _field(p: Product, field: str) -> str | None:
    if field == "ServiceCode":
        return str(p["serviceCode"])
    attributes: dict[str, str] = p["product"]["attributes"]
    if field in attributes:
        return attributes[field]
    value = p["product"].get(field)
    return None if value is None else str(value)


def _matches(p: Product, body: dict[str, Any]) -> bool:
    if p["serviceCode"] != body.get("ServiceCode"):
        return False
    for f in body.get("Filters") or []:
        kind, value, actual = f.get("Type"), str(f.get("Value", "")), _field(p, str(f.get("Field", "")))
        if kind in ("TERM_MATCH", "EQUALS"):
            ok = actual == value
        elif kind == "CONTAINS":
            ok = actual is not None and value in actual
        elif kind in ("ANY_OF", "NONE_OF"):
            ok = (actual in [v.strip() for v in value.split(",")]) == (kind == "ANY_OF")
        else:
            raise ValueError(f"Filter Type {kind!r} is not one of TERM_MATCH, EQUALS, CONTAINS, ANY_OF, NONE_OF")
        if not ok:
            return False
    return True


def _query_hash(body: dict[str, Any]) -> str:
    query = {"ServiceCode": body.get("ServiceCode"), "Filters": body.get("Filters"), "Max": body.get("MaxResults")}
    return hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:12]


def _token(offset: int, query: str) -> str:
    return base64.b64encode(f"{offset}:{query}".encode()).decode()


def _offset(token: str, query: str) -> int | None:
    try:
        offset, owner = base64.b64decode(token.encode(), validate=True).decode().split(":")
        return int(offset) if owner == query else None
    except ValueError:
        return None


@contextmanager
def serving(products: Iterable[Product], *, port: int = 0, delay: float = 0.0) -> Iterator[PriceListServer]:
    with PriceListServer(products, port=port, delay=delay) as server:
        yield server
