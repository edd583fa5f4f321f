"""Trigger secrets in Secrets Manager: who may read them, and who may manage the ones the service owns.

The api function moves inline trigger secrets into secrets named ``workflow-scheduler/triggers/<workflow>/<trigger>``
at deploy (``workflow_scheduler.domain.inline_secrets``, ``adapters.secret_store``), tagged with their owner,
workflow and trigger, and deletes them when no trigger uses them any more; it checks the owner tag of any other
``*_ref`` at deploy. The webhook function reads them and checks the tags again. Earlier releases named the webhook
secrets they made ``workflow-scheduler/webhooks/...``: those are still read, described and deleted with their
trigger (never created there again), and they alone are adopted. IAM lets each function touch only tagged
secrets: the service's own (``managed-by``) and, among the operator's extra ARNs, those that carry an owner tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, Stack, aws_iam, aws_lambda
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import (
    LEGACY_SECRET_PREFIX,
    MANAGED_SECRET_PREFIX,
    MANAGED_SECRET_TAG,
    SECRET_OWNER_TAG,
    SECRET_TRIGGER_TAG,
    SECRET_WORKFLOW_TAG,
)

# What SecretsManagerStore calls on the secrets it manages: read (no-op detection, compensation), write (put;
# restore a secret scheduled for deletion), delete (with a recovery window); create, below.
MANAGE_ACTIONS = [
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RestoreSecret",
    "secretsmanager:DeleteSecret",
]
# CreateSecret with Tags also needs TagResource.
CREATE_ACTIONS = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
DESCRIBE_ACTIONS = ["secretsmanager:DescribeSecret"]
READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]

MANAGED_BY_SERVICE = {"StringEquals": {f"secretsmanager:ResourceTag/{MANAGED_SECRET_TAG[0]}": MANAGED_SECRET_TAG[1]}}
HAS_OWNER = {"Null": {f"secretsmanager:ResourceTag/{SECRET_OWNER_TAG}": "false"}}
# New secrets carry the service's tag, an owner, and no tag but the service's four.
CREATED_BY_SERVICE = {
    "StringEquals": {f"aws:RequestTag/{MANAGED_SECRET_TAG[0]}": MANAGED_SECRET_TAG[1]},
    "Null": {f"aws:RequestTag/{SECRET_OWNER_TAG}": "false"},
    "ForAllValues:StringEquals": {
        "aws:TagKeys": [MANAGED_SECRET_TAG[0], SECRET_OWNER_TAG, SECRET_WORKFLOW_TAG, SECRET_TRIGGER_TAG]
    },
}
# Adoption of the secrets made before owner tags (the migrate function, once): only the service's secrets, only
# those without an owner tag yet, and only with the service's four tags, an owner among them.
ADOPT_ACTIONS = ["secretsmanager:TagResource"]
ADOPTED_BY_SERVICE = {
    "StringEquals": {
        f"secretsmanager:ResourceTag/{MANAGED_SECRET_TAG[0]}": MANAGED_SECRET_TAG[1],
        f"aws:RequestTag/{MANAGED_SECRET_TAG[0]}": MANAGED_SECRET_TAG[1],
    },
    "Null": {f"secretsmanager:ResourceTag/{SECRET_OWNER_TAG}": "true", f"aws:RequestTag/{SECRET_OWNER_TAG}": "false"},
    "ForAllValues:StringEquals": CREATED_BY_SERVICE["ForAllValues:StringEquals"],
}


PREFIXES = f"{MANAGED_SECRET_PREFIX} and {LEGACY_SECRET_PREFIX}"


class ManagedSecrets:
    """Grants on the managed name prefixes (plus ``extra_arns``, the operator's). Not a construct: it creates nothing.

    aws-cdk-lib's ``Secret.grant_*`` act on one secret; these secrets are created at run time under a name
    prefix, so the grants are written here (``Grant.add_to_principal``), each with the narrowest actions,
    resources and tag conditions possible.
    """

    def __init__(self, scope: Construct, *, extra_arns: Sequence[str] = ()) -> None:
        # arn:<partition>:secretsmanager:<region>:<account>:secret:workflow-scheduler/triggers/* - the `*` also
        # covers the 6 random characters Secrets Manager appends to every secret's name.
        self.created_arns = [_prefix_arn(scope, MANAGED_SECRET_PREFIX)]  # where new ones are made
        self.legacy_arns = [_prefix_arn(scope, LEGACY_SECRET_PREFIX)]  # the earlier releases' webhook secrets
        self.managed_arns = [*self.created_arns, *self.legacy_arns]
        self.extra_arns = tuple(extra_arns)

    def grant_read(self, function: aws_lambda.Function) -> None:
        """Read and describe the service's secrets, and the extra ARNs' secrets that carry an owner tag."""
        _grant(function, READ_ACTIONS, self.managed_arns, {**MANAGED_BY_SERVICE, **HAS_OWNER})
        if self.extra_arns:
            _grant(function, READ_ACTIONS, self.extra_arns, HAS_OWNER)
        nag.acknowledge(
            function,
            "webhook triggers name their secret at deploy time (secret_ref); the function may read and describe "
            f"only secrets under the service's own prefixes {PREFIXES} tagged as the service's and "
            "with an owner (GetSecretValue, DescribeSecret, nothing else)",
            *MANAGED_FINDINGS,
        )
        self._acknowledge_extra(function, "GetSecretValue and DescribeSecret")

    def grant_manage(self, function: aws_lambda.Function) -> None:
        """What the api function needs to keep the managed secrets in step with deployments, and to check the
        owner tag of the secrets a deploy names."""
        # Unconditional: a deploy must tell a free managed name from one held by a secret that is not the service's.
        _grant(function, DESCRIBE_ACTIONS, self.managed_arns)
        _grant(function, MANAGE_ACTIONS, self.managed_arns, MANAGED_BY_SERVICE)
        _grant(function, CREATE_ACTIONS, self.created_arns, CREATED_BY_SERVICE)
        if self.extra_arns:
            _grant(function, DESCRIBE_ACTIONS, self.extra_arns, HAS_OWNER)
        nag.acknowledge(
            function,
            "the api function creates, updates, restores and deletes the trigger secrets it moves out of specs at "
            f"deploy (only those tagged as the service's); their names are only known then, all under the "
            f"service's prefixes {PREFIXES} (new ones under {MANAGED_SECRET_PREFIX} only)",
            *MANAGED_FINDINGS,
        )
        self._acknowledge_extra(function, "DescribeSecret (the owner tag check at deploy)")

    def grant_adopt(self, function: aws_lambda.Function) -> None:
        """What the migrate function needs to give the managed secrets made before owner tags their owner's tags
        (``workflow_scheduler.domain.secret_adoption``): describe the service's secrets, tag those without an owner."""
        _grant(function, DESCRIBE_ACTIONS, self.legacy_arns, MANAGED_BY_SERVICE)
        _grant(function, ADOPT_ACTIONS, self.legacy_arns, ADOPTED_BY_SERVICE)
        nag.acknowledge(
            function,
            "the migrate function tags, once, the webhook secrets made before secrets carried an owner tag; their "
            f"names come from the trigger index, all under the earlier releases' prefix {LEGACY_SECRET_PREFIX}; "
            "DescribeSecret on the service's secrets, TagResource only on those without an owner tag and only "
            "with the service's tags",
            _finding(LEGACY_SECRET_PREFIX + "*"),
        )

    def _acknowledge_extra(self, function: aws_lambda.Function, actions: str) -> None:
        wildcards = [_finding(arn) for arn in self.extra_arns if "*" in arn]
        if wildcards:
            nag.acknowledge(
                function,
                "secret ARN patterns the operator listed in the webhookSecretArns context for secret_refs "
                f"outside the managed prefix (docs/deploy.md); only secrets with an owner tag, {actions} only",
                *wildcards,
            )


def _prefix_arn(scope: Construct, prefix: str) -> str:
    return Stack.of(scope).format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=f"{prefix}*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def _grant(
    function: aws_lambda.Function,
    actions: Sequence[str],
    resources: Sequence[str],
    conditions: dict[str, Any] | None = None,
) -> None:
    aws_iam.Grant.add_to_principal(
        grantee=function, actions=list(actions), resource_arns=list(resources), conditions=conditions
    )


def _finding(resource: str) -> str:
    """cdk-nag's IAM5 finding for a wildcard ``resource``: a secret name pattern, or an ARN given verbatim."""
    if resource.startswith("arn:"):
        return f"AwsSolutions-IAM5[Resource::{resource}]"
    return (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:"
        f"{resource}]"
    )


# The wildcard findings of the grants on both prefixes.
MANAGED_FINDINGS = [_finding(MANAGED_SECRET_PREFIX + "*"), _finding(LEGACY_SECRET_PREFIX + "*")]
