"""The REST API: API Gateway in front of the functions, behind a WAF web ACL."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import NamedTuple

from aws_cdk import aws_apigateway, aws_lambda, aws_logs, aws_secretsmanager, aws_wafv2
from constructs import Construct

from infra_cdk import nag
from infra_cdk.config import RateLimits
from infra_cdk.constants import (
    API_BINARY_MEDIA_TYPES,
    API_FUNCTION,
    API_FUNCTION_ID,
    API_MEMORY_MB,
    API_STAGE_NAME,
    API_THROTTLE_BURST,
    API_THROTTLE_RATE,
    API_TIMEOUT,
    ENV_JWT_SECRET_ARN,
    GITHUB_WEBHOOK_PATH,
    HEALTH_PATH,
    JWT_SECRET_LENGTH,
    LOG_RETENTION,
    SERVICE_NAME,
    V1_PROXY_PATH,
)
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.resources import SharedResources

JWT_IN_FUNCTION = "JWT bearer tokens are verified in the function (pinned algorithms, exp required); see docs/deploy.md"

_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "error": "$context.error.message",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}

# What API Gateway answers by itself keeps the service's error shape {"error": code, "message": text}.
_MESSAGE = "$context.error.messageString"  # already a quoted JSON string
_GATEWAY_RESPONSES = [
    # An unknown route is a 403 "Missing Authentication Token" by default: say what it is.
    (aws_apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "not_found", '"no route matches the request"'),
    (aws_apigateway.ResponseType.THROTTLED, None, "throttled", _MESSAGE),
    (aws_apigateway.ResponseType.REQUEST_TOO_LARGE, None, "payload_too_large", _MESSAGE),
    (aws_apigateway.ResponseType.WAF_FILTERED, None, "forbidden", _MESSAGE),
    (aws_apigateway.ResponseType.DEFAULT_4_XX, None, "bad_request", _MESSAGE),
    (aws_apigateway.ResponseType.DEFAULT_5_XX, None, "internal_error", _MESSAGE),
]

# AWS managed rule groups with few false positives for a JSON API that also takes arbitrary webhook bodies
# (the common rule set's 8 KB body limit and XSS/SQLi body rules would reject legitimate specs and payloads).
_MANAGED_RULE_GROUPS = ["AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesKnownBadInputsRuleSet"]


# Per-caller limits (docs/deploy.md "Rate limits"): rate-based rules, each answering with its own 429 body.
TOO_MANY_REQUESTS = 429
# Counted by the Authorization header as sent (a request without one is not counted by this key).
_BY_TOKEN = [
    aws_wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty(
        header=aws_wafv2.CfnWebACL.RateLimitHeaderProperty(
            name="Authorization",
            text_transformations=[aws_wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
        )
    )
]
# None: by source address, the caller's own: the API has no CloudFront or proxy in front that would replace it.
_BY_ADDRESS = None


class _RateRule(NamedTuple):
    name: str
    limit: int
    keys: list[aws_wafv2.CfnWebACL.RateBasedStatementCustomKeyProperty] | None  # what is counted
    scope: aws_wafv2.CfnWebACL.StatementProperty  # which requests
    who: str  # whose requests are over the limit, for the answer


_V1_PREFIX = V1_PROXY_PATH.removesuffix("{proxy+}")
# Matched on the path after URL decoding and path normalization (a "//" or "%76" cannot slip past a rule), with or
# without the stage in front: WAF sees "/prod/v1/..." on the execute-api URL, "/v1/..." on a custom domain.
_PATH_TRANSFORMATIONS = ("URL_DECODE", "NORMALIZE_PATH")


def _path_pattern(path: str, *, prefix: bool) -> str:
    """The regular expression of ``path`` (a prefix, or the whole path with an optional trailing slash)."""
    return f"^(/{re.escape(API_STAGE_NAME)})?{re.escape(path)}{'' if prefix else '/?$'}"


class Api(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, shared: SharedResources, rate_limits: RateLimits
    ) -> None:
        super().__init__(scope, construct_id)
        self._rate_limits = rate_limits
        self.jwt_secret = self._jwt_secret()

        self.function = ServiceFunction(
            self,
            API_FUNCTION_ID,
            shared=shared,
            name=API_FUNCTION,
            description="The /v1 API (deploy, status, triggers, pause, resume, manual runs, firings) and /health",
            memory_size=API_MEMORY_MB,
            timeout=API_TIMEOUT,
            environment={ENV_JWT_SECRET_ARN: self.jwt_secret.secret_arn},
        ).function
        self.jwt_secret.grant_read(self.function)
        shared.state_table.grant_read_write(self.function)
        shared.dispatch_queue.grant_send(self.function)  # manual runs
        shared.managed_secrets.grant_manage(self.function)  # inline trigger secrets move into Secrets Manager at deploy

        self.rest_api = self._rest_api()
        # Bodies and parameters are checked where a method declares a model or a required parameter; the
        # function validates everything else (pydantic) and answers 422 with details.
        self._validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        self._add_gateway_responses()
        self._add_web_acl()

        # The stack outputs the URL under its own name (ApiUrl).
        self.rest_api.node.try_remove_child("Endpoint")

        self.add_function_route(HEALTH_PATH, ["GET"], self.function)
        self.add_function_route(V1_PROXY_PATH, ["ANY"], self.function)

    @property
    def url(self) -> str:
        return self.rest_api.url

    def add_function_route(
        self,
        path: str,
        methods: Sequence[str],
        function: aws_lambda.IFunction,
        *,
        required_headers: Sequence[str] = (),
        authentication: str = JWT_IN_FUNCTION,
    ) -> list[aws_apigateway.Method]:
        """Route ``methods`` (or ``["ANY"]``) on ``path`` (``/a/{b}/{proxy+}``) to ``function``.

        ``required_headers`` are rejected by API Gateway (400) when missing, before the function runs. No method
        has an API Gateway authorizer: ``authentication`` says how the function authenticates its callers instead
        (the reason of the acknowledged cdk-nag findings APIG4 and COG4).
        """
        resource = self.rest_api.root.resource_for_path(path.strip("/"))
        integration = aws_apigateway.LambdaIntegration(function, allow_test_invoke=False)
        created = []
        for method in methods:
            created.append(
                resource.add_method(
                    method,
                    integration,
                    authorization_type=aws_apigateway.AuthorizationType.NONE,
                    request_validator=self._validator,
                    request_parameters={f"method.request.header.{name}": True for name in required_headers},
                )
            )
            nag.acknowledge(created[-1], authentication, "AwsSolutions-APIG4", "AwsSolutions-COG4")
        return created

    def _jwt_secret(self) -> aws_secretsmanager.Secret:
        # The HS256 signing key of the bearer tokens: the whole secret string is the key.
        secret = aws_secretsmanager.Secret(
            self,
            "JwtSecret",
            description="HS256 key that signs the API's bearer tokens (JWT)",
            generate_secret_string=aws_secretsmanager.SecretStringGenerator(
                password_length=JWT_SECRET_LENGTH, exclude_punctuation=True
            ),
        )
        nag.acknowledge(
            secret,
            "rotating the JWT signing key invalidates every token issued with it, so it is rotated "
            "deliberately (docs/deploy.md), not on a schedule",
            "AwsSolutions-SMG4",
        )
        return secret

    def _rest_api(self) -> aws_apigateway.RestApi:
        access_logs = aws_logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        rest_api = aws_apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=SERVICE_NAME,
            description="workflow_scheduler: deployments, triggers and webhooks",
            endpoint_types=[aws_apigateway.EndpointType.REGIONAL],
            binary_media_types=API_BINARY_MEDIA_TYPES,
            # Execution and access logging need the account's API Gateway CloudWatch role.
            cloud_watch_role=True,
            deploy_options=aws_apigateway.StageOptions(
                stage_name=API_STAGE_NAME,
                access_log_destination=aws_apigateway.LogGroupLogDestination(access_logs),
                access_log_format=aws_apigateway.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FIELDS)),
                # Errors only, and never request or response bodies: they carry specs and webhook secrets.
                logging_level=aws_apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=API_THROTTLE_RATE,
                throttling_burst_limit=API_THROTTLE_BURST,
            ),
        )
        nag.acknowledge(
            rest_api,
            "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-maintained policy API Gateway's account-level "
            "logging role needs; it grants only CloudWatch Logs writes",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
        )
        return rest_api

    def _add_gateway_responses(self) -> None:
        """What API Gateway answers by itself keeps the service's error shape (``_GATEWAY_RESPONSES``)."""
        for response_type, status, code, message in _GATEWAY_RESPONSES:
            self.rest_api.add_gateway_response(
                f"{code.title().replace('_', '')}{status or ''}Response",
                type=response_type,
                status_code=status,
                templates={"application/json": f'{{"error": "{code}", "message": {message}}}'},
            )

    def _add_web_acl(self) -> None:
        managed = [
            aws_wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                statement=aws_wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=aws_wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group
                    )
                ),
                override_action=aws_wafv2.CfnWebACL.OverrideActionProperty(none={}),
                visibility_config=_visibility(group),
            )
            for priority, group in enumerate(_MANAGED_RULE_GROUPS)
        ]
        limits = self._rate_limits
        v1 = _path_match(_path_pattern(_V1_PREFIX, prefix=True))
        github = _path_match(_path_pattern(GITHUB_WEBHOOK_PATH, prefix=False))
        # The first rule that blocks answers; a request it blocks is not counted by the rules after it.
        rate_rules = [
            # A tenant's calls, by their bearer token (the function verifies it; an invalid one is counted too).
            _RateRule("RateLimitPerToken", limits.per_token, _BY_TOKEN, v1, "with this token"),
            # Everything but GitHub's deliveries by source address: anonymous webhook senders, /health, /v1 calls
            # without a token, and a caller spreading its calls over many tokens.
            _RateRule("RateLimitPerAddress", limits.per_address, _BY_ADDRESS, _not(github), "from this address"),
            # GitHub delivers every installation's events from a few addresses of its own: a limit of their own.
            _RateRule("GithubRateLimitPerAddress", limits.github_per_address, _BY_ADDRESS, github, "from this address"),
        ]
        web_acl = aws_wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=aws_wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{SERVICE_NAME}-api"),
            rules=managed + [self._rate_rule(len(managed) + index, rule) for index, rule in enumerate(rate_rules)],
            custom_response_bodies={
                rule.name: aws_wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=json.dumps(
                        {
                            "error": "too_many_requests",
                            "message": f"more than {rule.limit} requests in {limits.window_seconds} seconds "
                            f"{rule.who}: retry after {limits.window_seconds} seconds",
                        }
                    ),
                )
                for rule in rate_rules
            },
        )
        aws_wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=web_acl.attr_arn,
        )

    def _rate_rule(self, priority: int, rule: _RateRule) -> aws_wafv2.CfnWebACL.RuleProperty:
        """Blocks what is over the rule's limit in the window with a 429, the rule's body and a Retry-After of the
        window: a caller that waits that long is below the limit again."""
        window = self._rate_limits.window_seconds
        return aws_wafv2.CfnWebACL.RuleProperty(
            name=rule.name,
            priority=priority,
            statement=aws_wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=aws_wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="CUSTOM_KEYS" if rule.keys else "IP",
                    custom_keys=rule.keys,
                    limit=rule.limit,
                    evaluation_window_sec=window,
                    scope_down_statement=rule.scope,
                )
            ),
            action=aws_wafv2.CfnWebACL.RuleActionProperty(
                block=aws_wafv2.CfnWebACL.BlockActionProperty(
                    custom_response=aws_wafv2.CfnWebACL.CustomResponseProperty(
                        response_code=TOO_MANY_REQUESTS,
                        custom_response_body_key=rule.name,
                        response_headers=[
                            aws_wafv2.CfnWebACL.CustomHTTPHeaderProperty(name="Retry-After", value=str(window))
                        ],
                    )
                )
            ),
            visibility_config=_visibility(rule.name),
        )


def _visibility(metric: str) -> aws_wafv2.CfnWebACL.VisibilityConfigProperty:
    return aws_wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _path_match(pattern: str) -> aws_wafv2.CfnWebACL.StatementProperty:
    return aws_wafv2.CfnWebACL.StatementProperty(
        regex_match_statement=aws_wafv2.CfnWebACL.RegexMatchStatementProperty(
            field_to_match=aws_wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            regex_string=pattern,
            text_transformations=[
                aws_wafv2.CfnWebACL.TextTransformationProperty(priority=priority, type=transformation)
                for priority, transformation in enumerate(_PATH_TRANSFORMATIONS)
            ],
        )
    )


def _not(statement: aws_wafv2.CfnWebACL.StatementProperty) -> aws_wafv2.CfnWebACL.StatementProperty:
    return aws_wafv2.CfnWebACL.StatementProperty(
        not_statement=aws_wafv2.CfnWebACL.NotStatementProperty(statement=statement)
    )
