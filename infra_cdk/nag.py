"""cdk-nag acknowledgments: each names the exact finding and says why it is accepted."""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, Stack, Validations, aws_lambda
from constructs import IConstruct

# Findings that recur on every function of the service; the reasons hold for all of them.
LAMBDA_BASIC_EXECUTION = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)
LAMBDA_VPC_EXECUTION = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]"
)
MANAGED_EXECUTION_POLICY_REASON = (
    "AWS-maintained minimal Lambda execution policies (write the function's logs; manage its VPC network "
    "interfaces); a hand-written copy would only drift from what Lambda needs"
)


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Accept the findings ``rule_ids`` on ``scope`` and everything under it, for ``reason``."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids))


def acknowledge_singleton(scope: IConstruct, id_prefix: str, reason: str, *rule_ids: str) -> None:
    """Accept findings on a stack-level singleton that aws-cdk-lib adds on our behalf (e.g. LogRetention...)."""
    stack = Stack.of(scope)
    found = [child for child in stack.node.children if child.node.id.startswith(id_prefix)]
    if not found:
        raise LookupError(f"no construct {id_prefix}* in {stack.node.path}: has aws-cdk-lib renamed it?")
    for child in found:
        acknowledge(child, reason, *rule_ids)


def invoke_grant_finding(function: aws_lambda.Function) -> str:
    """The IAM5 finding of ``function.grant_invoke(role)``: besides the function's ARN it allows its qualified ARNs
    (versions and aliases, ``ARN:*``). cdk-nag names the function by its logical id."""
    logical_id = Stack.of(function).get_logical_id(cast(aws_lambda.CfnFunction, function.node.default_child))
    return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]"
