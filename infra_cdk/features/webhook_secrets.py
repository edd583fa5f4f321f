"""Webhook secrets in Secrets Manager: who may read them, and who may manage the ones the service owns.

The api function moves inline webhook secrets into secrets named ``workflow-scheduler/webhooks/<workflow>/<trigger>``
at deploy (``workflow_scheduler.domain.inline_secrets``, ``adapters.secret_store``) and deletes them when no trigger
uses them any more; the webhook function reads them, and any other ``secret_ref`` the operator allows by ARN.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack, aws_iam, aws_lambda
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import MANAGED_SECRET_TAG, WEBHOOK_SECRET_PREFIX

# What SecretsManagerStore calls: read (no-op detection, compensation), write (put; create; restore a secret
# scheduled for deletion), delete (with a recovery window). CreateSecret with Tags also needs TagResource.
MANAGE_ACTIONS = [
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RestoreSecret",
    "secretsmanager:DeleteSecret",
]
CREATE_ACTIONS = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
READ_ACTIONS = ["secretsmanager:GetSecretValue"]


class WebhookSecrets:
    """Grants on the managed name prefix (plus ``extra_arns`` for reading). Not a construct: it creates nothing.

    aws-cdk-lib's ``Secret.grant_*`` act on one secret; these secrets are created at run time under a name
    prefix, so the statements are written here, each with the narrowest actions and resource possible.
    """

    def __init__(self, scope: Construct, *, extra_arns: Sequence[str] = ()) -> None:
        # arn:<partition>:secretsmanager:<region>:<account>:secret:workflow-scheduler/webhooks/* - the `*` also
        # covers the 6 random characters Secrets Manager appends to every secret's name.
        self.managed_arns = Stack.of(scope).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{WEBHOOK_SECRET_PREFIX}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.extra_arns = tuple(extra_arns)

    def grant_read(self, function: aws_lambda.Function) -> None:
        """``GetSecretValue`` on the managed secrets and on the extra ARNs."""
        function.add_to_role_policy(
            aws_iam.PolicyStatement(actions=READ_ACTIONS, resources=[self.managed_arns, *self.extra_arns])
        )
        nag.acknowledge(
            function,
            "webhook triggers name their secret at deploy time (secret_ref); the function may read only secrets "
            f"under the service's own prefix {WEBHOOK_SECRET_PREFIX} (GetSecretValue, nothing else)",
            _finding(WEBHOOK_SECRET_PREFIX + "*"),
        )
        wildcards = [_finding(arn) for arn in self.extra_arns if "*" in arn]
        if wildcards:
            nag.acknowledge(
                function,
                "secret ARN patterns the operator listed in the webhookSecretArns context for secret_refs "
                "outside the managed prefix (docs/deploy.md); GetSecretValue only",
                *wildcards,
            )

    def grant_manage(self, function: aws_lambda.Function) -> None:
        """What the api function needs to keep the managed secrets in step with deployments."""
        function.add_to_role_policy(aws_iam.PolicyStatement(actions=MANAGE_ACTIONS, resources=[self.managed_arns]))
        key, value = MANAGED_SECRET_TAG
        function.add_to_role_policy(
            aws_iam.PolicyStatement(
                actions=CREATE_ACTIONS,
                resources=[self.managed_arns],
                # New secrets carry the service's tag, and only that tag.
                conditions={
                    "StringEquals": {f"aws:RequestTag/{key}": value},
                    "ForAllValues:StringEquals": {"aws:TagKeys": [key]},
                },
            )
        )
        nag.acknowledge(
            function,
            "the api function creates, updates, restores and deletes the webhook secrets it moves out of specs at "
            f"deploy; their names are only known then, all under the service's prefix {WEBHOOK_SECRET_PREFIX}",
            _finding(WEBHOOK_SECRET_PREFIX + "*"),
        )


def _finding(resource: str) -> str:
    """cdk-nag's IAM5 finding for a wildcard ``resource``: a secret name pattern, or an ARN given verbatim."""
    if resource.startswith("arn:"):
        return f"AwsSolutions-IAM5[Resource::{resource}]"
    return (
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:"
        f"{resource}]"
    )
