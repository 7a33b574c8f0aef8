"""The dependency rule: use cases depend on ports, adapters on the core, and the Slack adapter only translates."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AWS_LIBRARIES = ("boto3", "botocore", "pynamodb")
# The core's entry points and composition root: the only core modules that may name adapters.
WIRING = {"reaper/bootstrap.py", "reaper/cli.py", "reaper/__main__.py"}
USE_CASES = ("reaper.decisions", "reaper.scan", "reaper.sweep", "reaper.grace")


def parsed(package: str) -> dict[str, ast.Module]:
    return {str(p.relative_to(ROOT)): ast.parse(p.read_text()) for p in sorted((ROOT / package).rglob("*.py"))}


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_core_imports_nothing_from_slack_or_the_bot():
    for module, tree in parsed("reaper").items():
        offending = {n for n in imported(tree) if n.split(".")[0] in ("slack_bolt", "slack_sdk", "bot")}
        assert not offending, f"{module} imports {offending}"


def test_use_cases_and_rules_depend_on_ports_not_adapters():
    for module, tree in parsed("reaper").items():
        if module.startswith("reaper/aws/") or module in WIRING:
            continue
        offending = {n for n in imported(tree)
                     if n.split(".")[0] in AWS_LIBRARIES or n.startswith(("reaper.aws", "reaper.bootstrap"))}
        assert not offending, f"{module} imports {offending}"


def test_adapters_never_import_use_cases():
    for module, tree in parsed("reaper/aws").items():
        offending = {n for n in imported(tree) if n.startswith((*USE_CASES, "reaper.bootstrap"))}
        assert not offending, f"{module} imports {offending}"


def test_the_bot_reaches_aws_only_through_the_core():
    for module, tree in parsed("bot").items():
        names = imported(tree)
        offending = {n for n in names if n.split(".")[0] in AWS_LIBRARIES or n.startswith("reaper.aws")}
        assert not offending, f"{module} imports {offending}"


def test_only_the_bots_entry_points_wire_the_core():
    for module, tree in parsed("bot").items():
        if module in ("bot/handler.py", "bot/__main__.py"):
            continue
        offending = {n for n in imported(tree) if n.startswith("reaper.bootstrap")}
        assert not offending, f"{module} imports {offending}"


def test_the_bot_never_reaches_into_the_cores_ports():
    """Listeners call use cases; they never read or write the store (or any port) themselves."""
    ports = {"store", "audit", "ec2", "metrics", "cache", "prices"}
    for module, tree in parsed("bot").items():
        reached = {
            f"services.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in ports
            and isinstance(node.value, ast.Attribute | ast.Name)
            and (getattr(node.value, "attr", None) or getattr(node.value, "id", None)) == "services"
        }
        assert not reached, f"{module} reaches into {reached}"


def test_test_support_is_testkit_which_needs_no_pytest():
    """bench/ and demo/ share the tests' doubles through testkit/ (no pytest there), never by importing tests/."""
    for package in ("bench", "demo", "testkit"):
        for module, tree in parsed(package).items():
            offending = {n for n in imported(tree) if n.split(".")[0] in ("tests", "pytest", "_pytest")}
            assert not offending, f"{module} imports {offending}"
