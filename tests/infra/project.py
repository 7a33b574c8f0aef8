"""What the deployment files are checked against: the repository's files, read without running them.

The CloudFormation loader knows the short tags (!Ref, !Sub, !GetAtt, …) and turns each into
its long form ({"Ref": …}, {"Fn::Sub": …}), so tests can walk the template as plain data.
Names the code reads and IAM actions it declares are found with `ast`, so nothing is imported
(bot/ builds its Slack app at import time).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CODE_PACKAGES = ("reaper", "bot")

_ENV_NAME = re.compile(r"^(REAPER|SLACK)_[A-Z0-9_]+$")


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=CloudFormationLoader)
    return data


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def declared_iam_actions(package: str) -> dict[str, tuple[str, ...]]:
    """Module path → its module-level IAM_ACTIONS tuple, for every module of `package` that has one."""
    found: dict[str, tuple[str, ...]] = {}
    for path in _modules(package):
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
            )
            if any(isinstance(t, ast.Name) and t.id == "IAM_ACTIONS" for t in targets):
                value = ast.literal_eval(node.value)  # type: ignore[union-attr, arg-type]
                found[str(path.relative_to(ROOT))] = tuple(value)
    return found


def code_iam_actions() -> set[str]:
    """Every IAM action the code says it calls (each module declares its own IAM_ACTIONS)."""
    return {a for package in CODE_PACKAGES for declared in declared_iam_actions(package).values() for a in declared}


def env_names_in_code(*packages: str) -> set[str]:
    """REAPER_* and SLACK_* names that appear as string literals in the code: the variables it reads."""
    names: set[str] = set()
    for package in packages or CODE_PACKAGES:
        for path in _modules(package):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ENV_NAME.match(node.value):
                    names.add(node.value)
    return names


def policy_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"]["ReaperRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values
