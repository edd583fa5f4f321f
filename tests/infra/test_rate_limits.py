"""Per-caller limits: the WAF's rate-based rules in front of the stage (docs/deploy.md "Rate limits")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import App

from infra_cdk.config import ConfigError, StackConfig
from tests.infra.conftest import Synthesized, only

PER_TOKEN, PER_ADDRESS, GITHUB = "RateLimitPerToken", "RateLimitPerAddress", "GithubRateLimitPerAddress"
# Paths as WAF sees them after URL decoding and normalization: with the stage on the execute-api URL, without it on
# a custom domain.
V1_PATHS = ["/prod/v1/workflows", "/prod/v1/workflows/wf-1/deploy", "/v1/workflows"]
GITHUB_PATHS = ["/prod/webhooks/github", "/prod/webhooks/github/", "/webhooks/github"]
OTHER_PATHS = ["/prod/webhook/shop/orders", "/prod/webhook/v1/x", "/prod/health", "/prod/webhooks/github-app"]


def web_acl(synthesized: Synthesized) -> dict[str, Any]:
    _, acl = only(synthesized.resources("AWS::WAFv2::WebACL"))
    props: dict[str, Any] = acl["Properties"]
    return props


def rate_rules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in web_acl(synthesized)["Rules"] if "RateBasedStatement" in rule["Statement"]}


def path_matches(statement: dict[str, Any], path: str) -> bool:
    """Whether a scope-down statement (a path pattern, or NOT one) takes ``path``."""
    if "NotStatement" in statement:
        return not path_matches(statement["NotStatement"]["Statement"], path)
    regex = statement["RegexMatchStatement"]
    assert regex["FieldToMatch"] == {"UriPath": {}}
    # Decoded and normalized first: "%76" or "//" cannot take a request out of its rule's scope.
    assert [t["Type"] for t in sorted(regex["TextTransformations"], key=lambda t: t["Priority"])] == [
        "URL_DECODE",
        "NORMALIZE_PATH",
    ]
    return re.search(regex["RegexString"], path) is not None


def test_api_calls_are_counted_per_bearer_token(synthesized: Synthesized) -> None:
    statement = rate_rules(synthesized)[PER_TOKEN]["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "CUSTOM_KEYS"
    (key,) = statement["CustomKeys"]
    assert key["Header"]["Name"] == "Authorization"
    assert (statement["Limit"], statement["EvaluationWindowSec"]) == (600, 60)
    scope = statement["ScopeDownStatement"]
    assert all(path_matches(scope, path) for path in V1_PATHS)
    assert not any(path_matches(scope, path) for path in GITHUB_PATHS + OTHER_PATHS)


def test_every_route_but_githubs_is_counted_per_source_address(synthesized: Synthesized) -> None:
    """Anonymous webhook senders, /health, and /v1 too: a caller without a token, or with a new one for each call,
    is still one address."""
    statement = rate_rules(synthesized)[PER_ADDRESS]["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert "CustomKeys" not in statement and "ForwardedIPConfig" not in statement  # no proxy in front of the API
    assert (statement["Limit"], statement["EvaluationWindowSec"]) == (1200, 60)
    scope = statement["ScopeDownStatement"]
    assert all(path_matches(scope, path) for path in V1_PATHS + OTHER_PATHS)
    assert not any(path_matches(scope, path) for path in GITHUB_PATHS)


def test_github_deliveries_have_a_higher_limit_of_their_own(synthesized: Synthesized) -> None:
    """GitHub sends every installation's deliveries from its own few addresses: they are not held to the limit of
    one anonymous sender, but one address still cannot take the route's whole stage rate (100 a second)."""
    rules = rate_rules(synthesized)
    statement = rules[GITHUB]["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert (statement["Limit"], statement["EvaluationWindowSec"]) == (3000, 60)
    assert statement["Limit"] > rules[PER_ADDRESS]["Statement"]["RateBasedStatement"]["Limit"]
    assert statement["Limit"] < 100 * statement["EvaluationWindowSec"]
    scope = statement["ScopeDownStatement"]
    assert all(path_matches(scope, path) for path in GITHUB_PATHS)
    assert not any(path_matches(scope, path) for path in V1_PATHS + OTHER_PATHS)


def test_a_caller_over_a_limit_gets_429_with_the_service_error_shape_and_retry_after(
    synthesized: Synthesized,
) -> None:
    acl = web_acl(synthesized)
    bodies = acl["CustomResponseBodies"]
    expected = {
        PER_TOKEN: "more than 600 requests in 60 seconds with this token: retry after 60 seconds",
        PER_ADDRESS: "more than 1200 requests in 60 seconds from this address: retry after 60 seconds",
        GITHUB: "more than 3000 requests in 60 seconds from this address: retry after 60 seconds",
    }
    rules = rate_rules(synthesized)
    assert set(rules) == set(expected)
    for name, rule in rules.items():
        response = rule["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        assert response["ResponseHeaders"] == [{"Name": "Retry-After", "Value": "60"}]
        body = bodies[response["CustomResponseBodyKey"]]
        assert body["ContentType"] == "APPLICATION_JSON"
        assert json.loads(body["Content"]) == {"error": "too_many_requests", "message": expected[name]}


def test_the_managed_rule_groups_come_first(synthesized: Synthesized) -> None:
    """A request they block (a known bad address or input) is answered 403 and not counted against anyone."""
    rules = sorted(web_acl(synthesized)["Rules"], key=lambda rule: rule["Priority"])
    assert [rule["Name"] for rule in rules] == [
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesKnownBadInputsRuleSet",
        PER_TOKEN,
        PER_ADDRESS,
        GITHUB,
    ]


def test_limits_and_window_are_deployment_options(synthesized_with_options: Synthesized) -> None:
    rules = rate_rules(synthesized_with_options)
    limits = {name: rule["Statement"]["RateBasedStatement"]["Limit"] for name, rule in rules.items()}
    assert limits == {PER_TOKEN: 1500, PER_ADDRESS: 4000, GITHUB: 20000}
    for rule in rules.values():
        assert rule["Statement"]["RateBasedStatement"]["EvaluationWindowSec"] == 300
        assert rule["Action"]["Block"]["CustomResponse"]["ResponseHeaders"] == [{"Name": "Retry-After", "Value": "300"}]
    body = web_acl(synthesized_with_options)["CustomResponseBodies"][PER_TOKEN]
    assert json.loads(body["Content"])["message"] == (
        "more than 1500 requests in 300 seconds with this token: retry after 300 seconds"
    )


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"rateLimitWindowSeconds": "90"}, "must be one of 60, 120, 300, 600"),
        ({"rateLimitWindowSeconds": "3600"}, "from 60 to 600"),
        ({"rateLimitPerToken": "5"}, "rateLimitPerToken must be a whole number from 10 to 2000000000"),
        ({"rateLimitPerAddress": "many"}, "rateLimitPerAddress must be a whole number"),
        ({"githubRateLimitPerAddress": "0"}, "githubRateLimitPerAddress must be a whole number from 10"),
    ],
)
def test_limits_waf_refuses_fail_the_synthesis(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StackConfig.from_context(App(context=context))
