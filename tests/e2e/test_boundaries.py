"""The dependency rule: the core knows nothing of Slack, and the Slack adapter does no reaping itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_core_imports_nothing_from_slack_or_the_bot():
    for module, names in imported_modules("reaper").items():
        offending = {n for n in names if n.split(".")[0] in ("slack_bolt", "slack_sdk", "bot")}
        assert not offending, f"{module} imports {offending}"


def test_the_bot_reaches_aws_only_through_the_core():
    for module, names in imported_modules("bot").items():
        aws = {n for n in names if n.split(".")[0] in ("boto3", "botocore", "pynamodb")}
        offending = aws | {n for n in names if n.startswith("reaper.aws")}
        assert not offending, f"{module} imports {offending}"
