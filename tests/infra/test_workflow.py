"""The CI workflow: tests on every push, the same suite on LocalStack, deploy from a green main via OIDC."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.project import COMPOSE, ROOT, WORKFLOW, load_template, load_yaml


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(WORKFLOW)
    return data


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def _uses(job: dict[str, Any], action: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if s.get("uses", "").startswith(f"{action}@")]
    assert len(steps) == 1, action
    return steps[0]


def test_every_push_runs_make_test(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers
    assert "make test" in _runs(workflow["jobs"]["test"])
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_tests_run_on_the_lambda_runtimes_python(workflow: dict[str, Any]) -> None:
    runtime = load_template()["Resources"]["ReaperFunction"]["Properties"]["Runtime"]
    assert runtime.removeprefix("python") in workflow["jobs"]["test"]["strategy"]["matrix"]["python"]


def test_the_same_suite_runs_against_the_compose_files_localstack(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["localstack"]
    compose = load_yaml(COMPOSE)["services"]["localstack"]
    assert job["services"]["localstack"]["image"] == compose["image"]
    assert job["services"]["localstack"]["env"] == compose["environment"]  # nothing CI-only, such as a token
    assert job["env"]["REAPER_TEST_ENDPOINT"] == "http://localhost:4566"
    assert "make test" in _runs(job)


def test_only_a_green_main_deploys_with_the_oidc_role(workflow: dict[str, Any]) -> None:
    deploy = workflow["jobs"]["deploy"]
    assert set(deploy["needs"]) == {"test", "localstack"}
    assert "refs/heads/main" in deploy["if"]
    assert deploy["permissions"]["id-token"] == "write"
    credentials = _uses(deploy, "aws-actions/configure-aws-credentials")["with"]
    assert credentials["role-to-assume"].startswith("${{ vars.") or credentials["role-to-assume"].startswith(
        "${{ secrets."
    )
    assert "aws-access-key-id" not in credentials
    runs = _runs(deploy)
    assert any(r.startswith("sam build --template-file infra/template.yaml") for r in runs)
    assert any(r.startswith("sam deploy") for r in runs)
