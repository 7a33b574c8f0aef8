"""The template's explicit Denies on StopInstances and the code's eligibility agree, tag set by tag set.

A small evaluator of the condition operators the Deny statements use, written from IAM's
documented semantics (IAM User Guide), runs the template's own conditions against the tags
of an instance; the code's rules run on the same tags. For every tag set: if IAM may deny
the stop, the code never offers it; and the code's exempt decision equals IAM's.

The rules the evaluator follows, each from the IAM User Guide:

- Condition key *names* are not case-sensitive ("IAM JSON policy elements: Condition"), and
  that includes the tag key of aws:ResourceTag/<tag-key>: "the condition matches a resource
  tag key named either TagKey1 or tagkey1, but not both". An instance may carry both
  spellings; which one IAM then reads is not documented, so the evaluator tries each:
  IAM *may* deny if any choice denies.
- The case-sensitivity of *values* depends on the operator: StringEquals and
  StringNotEquals compare exactly, the ...IgnoreCase ones ignore case ("Condition
  operators"). Nothing is trimmed: " false " is not "false".
- A key absent from the request context makes every operator false, except the negated
  ones (StringNotEquals...), which are then true, and Null ("Condition operators").
- Null "false" holds when "the key exists and its value is not null"; Null "true" when it
  does not exist.
- Several operators, or several keys under one operator, must all hold; several values for
  one key are alternatives (OR).

The one thing the documentation leaves open is whether a tag with an empty value is "null":
the aws:ResourceTag page says there is a context key for each tag, while the multivalued-key
page calls an empty string "a null data set". Both readings are evaluated; the code exempts
a key-only tag either way, so under the second reading it is stricter than IAM there (and
the README tells people to give the tag a value).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from reaper.eligibility import exempt, static_skip
from reaper.model import Instance, SkipReason
from tests.infra.project import as_list, load_template, policy_statements

RESOURCE_TAG = "aws:resourcetag/"
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase"}


def _compare(operator: str, actual: str, wanted: str) -> bool:
    match operator:
        case "StringEquals":
            return actual == wanted
        case "StringNotEquals":
            return actual != wanted
        case "StringEqualsIgnoreCase":
            return actual.lower() == wanted.lower()
        case "StringNotEqualsIgnoreCase":
            return actual.lower() != wanted.lower()
    raise AssertionError(f"the evaluator does not know {operator}: teach it from IAM's documentation first")


def _condition_holds(operator: str, present: bool, actual: str | None, wanted: list[str]) -> bool:
    if operator == "Null":
        (flag,) = wanted
        return (not present) if flag == "true" else present
    if not present:
        return operator in NEGATED
    assert actual is not None
    if operator in NEGATED:  # negated: the value matches none of the listed ones
        return all(_compare(operator, actual, w) for w in wanted)
    return any(_compare(operator, actual, w) for w in wanted)


def _readings(tags: Mapping[str, str], tag_keys: set[str], empty_is_null: bool) -> Iterator[dict[str, str | None]]:
    """Every request context IAM may build: for each condition tag key, one of its spellings (or none)."""
    choices: list[list[tuple[str, str | None]]] = []
    for key in sorted(tag_keys):
        values = [v for k, v in tags.items() if k.lower() == key]
        present = [v for v in values if not (empty_is_null and v == "")]
        choices.append([(key, v) for v in present] or [(key, None)])
    for combination in itertools.product(*choices):
        yield dict(combination)


def may_deny(statement: Mapping[str, Any], tags: Mapping[str, str], *, empty_is_null: bool = False) -> bool:
    """Whether this Deny may apply to StopInstances on an instance with these tags."""
    condition: dict[str, dict[str, Any]] = statement["Condition"]
    tag_keys = {key.lower()[len(RESOURCE_TAG):] for block in condition.values() for key in block}
    assert all(key.lower().startswith(RESOURCE_TAG) for block in condition.values() for key in block)
    for context in _readings(tags, tag_keys, empty_is_null):
        if all(
            _condition_holds(operator, context[key.lower()[len(RESOURCE_TAG):]] is not None,
                             context[key.lower()[len(RESOURCE_TAG):]], [str(v) for v in as_list(wanted)])
            for operator, block in condition.items()
            for key, wanted in block.items()
        ):
            return True
    return False


@pytest.fixture(scope="module")
def denies() -> dict[str, dict[str, Any]]:
    statements = [s for s in policy_statements(load_template())
                  if s["Effect"] == "Deny" and "ec2:StopInstances" in as_list(s["Action"])]
    return {s["Sid"]: s for s in statements}


def instance(tags: Mapping[str, str]) -> Instance:
    return Instance("i-0123456789abcdef0", "us-east-1", "t3.micro", datetime(2026, 1, 1, tzinfo=UTC),
                    tags=MappingProxyType(dict(tags)))


EXEMPT_SETS = [
    {"reaper:exempt": "true"},
    {"Reaper:Exempt": "true"},
    {"REAPER:EXEMPT": "yes"},
    {"reaper:Exempt": "license server, keep it"},
    {"reaper:exempt": "no"},
    {"reaper:exempt": "0"},
    {"reaper:exempt": " false "},
    {"reaper:exempt": "false "},
    {"reaper:exempt": "\tfalse"},
    {"reaper:exempt": "falsey"},
    {"reaper:exempt": "false", "Reaper:Exempt": "true"},  # two spellings: IAM may read either
    {"REAPER:EXEMPT": " FALSE", "reaper:exempt": "false"},
]
NOT_EXEMPT_SETS = [
    {},
    {"Name": "dev"},
    {"reaper:exempt": "false"},
    {"reaper:exempt": "FALSE"},
    {"Reaper:Exempt": "False"},
    {"REAPER:EXEMPT": "fAlSe"},
    {"reaper:exempt": "false", "REAPER:EXEMPT": "FALSE"},
    {"reaper-exempt": "true"},
    {"reaper:exempt ": "true"},  # another key: IAM matches the key name exactly but for case
    {"exempt": "true"},
]
MANAGED_SETS = [
    {"aws:autoscaling:groupName": "web"},
    {"aws:autoscaling:groupName": ""},
    {"AWS:AUTOSCALING:GROUPNAME": "web"},  # AWS reserves aws: in any case; evaluated all the same
    {"aws:autoscaling:groupName": "web", "reaper:exempt": "false"},
    {"eks:cluster-name": "main"},
    {"kubernetes.io/cluster/main": "owned"},
]
EMPTY_VALUE = {"reaper:exempt": ""}  # a key-only tag


def ids(sets: list[dict[str, str]]) -> list[str]:
    return [",".join(f"{k}={v!r}" for k, v in s.items()) or "no tags" for s in sets]


def test_the_template_denies_stopping_exempt_and_auto_scaling_instances(denies: dict[str, dict[str, Any]]) -> None:
    assert set(denies) == {"NeverStopExemptInstances", "NeverStopAutoScalingMembers"}


@pytest.mark.parametrize("empty_is_null", [False, True], ids=["empty value is a value", "empty value is null"])
@pytest.mark.parametrize("tags", EXEMPT_SETS + NOT_EXEMPT_SETS + MANAGED_SETS + [EMPTY_VALUE],
                         ids=ids(EXEMPT_SETS + NOT_EXEMPT_SETS + MANAGED_SETS + [EMPTY_VALUE]))
def test_what_iam_may_deny_the_code_never_offers(
    denies: dict[str, dict[str, Any]], tags: dict[str, str], empty_is_null: bool
) -> None:
    iam_denies = any(may_deny(s, tags, empty_is_null=empty_is_null) for s in denies.values())

    assert not iam_denies or static_skip(instance(tags)) is not None


@pytest.mark.parametrize("tags", EXEMPT_SETS + NOT_EXEMPT_SETS + MANAGED_SETS + [EMPTY_VALUE],
                         ids=ids(EXEMPT_SETS + NOT_EXEMPT_SETS + MANAGED_SETS + [EMPTY_VALUE]))
def test_the_code_exempts_exactly_what_the_exempt_deny_may_deny(
    denies: dict[str, dict[str, Any]], tags: dict[str, str]
) -> None:
    iam = may_deny(denies["NeverStopExemptInstances"], tags)

    assert exempt(tags) is iam
    assert (static_skip(instance(tags)) is SkipReason.EXEMPT) is iam


@pytest.mark.parametrize("tags", EXEMPT_SETS, ids=ids(EXEMPT_SETS))
def test_each_exempt_spelling_is_denied_by_iam_and_skipped_by_the_code(
    denies: dict[str, dict[str, Any]], tags: dict[str, str]
) -> None:
    assert may_deny(denies["NeverStopExemptInstances"], tags)
    assert static_skip(instance(tags)) is SkipReason.EXEMPT


@pytest.mark.parametrize("tags", NOT_EXEMPT_SETS, ids=ids(NOT_EXEMPT_SETS))
def test_false_in_any_case_and_other_keys_are_neither_denied_nor_exempt(
    denies: dict[str, dict[str, Any]], tags: dict[str, str]
) -> None:
    assert not any(may_deny(s, tags) for s in denies.values())
    assert static_skip(instance(tags)) is None


@pytest.mark.parametrize("tags", [s for s in MANAGED_SETS if any(k.lower().startswith("aws:autoscaling") for k in s)])
def test_an_auto_scaling_tag_in_any_spelling_is_denied_and_skipped(
    denies: dict[str, dict[str, Any]], tags: dict[str, str]
) -> None:
    assert may_deny(denies["NeverStopAutoScalingMembers"], tags)
    assert static_skip(instance(tags)) is SkipReason.AUTOSCALING


def test_a_key_only_exempt_tag_is_skipped_under_either_reading_of_an_empty_value(
    denies: dict[str, dict[str, Any]],
) -> None:
    deny = denies["NeverStopExemptInstances"]
    assert may_deny(deny, EMPTY_VALUE, empty_is_null=False)
    assert not may_deny(deny, EMPTY_VALUE, empty_is_null=True)  # where only the code guards it
    assert static_skip(instance(EMPTY_VALUE)) is SkipReason.EXEMPT


# -- the evaluator itself: it can tell a deny when it sees one -----------------------------------


def test_the_evaluator_follows_iam_on_absent_keys_negation_and_case() -> None:
    deny = {"Condition": {"Null": {"aws:ResourceTag/k": "false"},
                          "StringNotEqualsIgnoreCase": {"aws:ResourceTag/k": "false"}}}
    exact = {"Condition": {"StringEquals": {"AWS:ResourceTag/K": ["a", "b"]}}}
    negated_alone = {"Condition": {"StringNotEquals": {"aws:ResourceTag/k": "x"}}}

    assert may_deny(deny, {"k": "yes"}) and may_deny(deny, {"K": " false "})
    assert not may_deny(deny, {}) and not may_deny(deny, {"k": "FALSE"})
    assert may_deny(exact, {"k": "b"}) and not may_deny(exact, {"k": "B"})
    assert may_deny(negated_alone, {})  # an absent key satisfies a negated operator
    assert may_deny(exact, {"k": "x", "K": "a"}) and not may_deny(exact, {"k": "x", "K": "y"})
