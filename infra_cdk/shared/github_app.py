"""The GitHub App's private key (a Secrets Manager secret) and what a function needs to call GitHub as the App.

The stack creates the secret with a placeholder value: put the App's PEM in it (docs/deploy.md). Or name an
existing secret by its complete ARN (``githubAppPrivateKeySecretArn``). Without ``githubAppId`` the functions run
without the App: pull request path filters are refused with the reason, enrichment is left out, the redelivery
sweep cannot list deliveries.
"""

from __future__ import annotations

from aws_cdk import aws_lambda, aws_secretsmanager
from constructs import Construct

from infra_cdk import nag
from infra_cdk.config import GithubAppConfig
from infra_cdk.constants import ENV_GITHUB_API_URL, ENV_GITHUB_APP_ID, ENV_GITHUB_APP_PRIVATE_KEY_SECRET_ARN

ROTATED_AT_GITHUB = (
    "the secret holds a credential GitHub issues (the App's private key, or the webhook secret set in the App's "
    "settings): it is rotated at GitHub and then put here, which a Secrets Manager rotation function cannot do"
)


class GithubApp(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: GithubAppConfig) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.private_key: aws_secretsmanager.ISecret
        if config.private_key_secret_arn:
            self.private_key = aws_secretsmanager.Secret.from_secret_complete_arn(
                self, "PrivateKey", config.private_key_secret_arn
            )
        else:
            self.private_key = aws_secretsmanager.Secret(
                self,
                "PrivateKey",
                description="The GitHub App's private key (PEM): put the key GitHub generated for the App here",
            )
            nag.acknowledge(self.private_key, ROTATED_AT_GITHUB, "AwsSolutions-SMG4")

    def grant_api(self, function: aws_lambda.Function) -> None:
        """What ``GithubAppSettings`` reads, and reading the App's key."""
        if self.config.app_id:
            function.add_environment(ENV_GITHUB_APP_ID, self.config.app_id)
        function.add_environment(ENV_GITHUB_APP_PRIVATE_KEY_SECRET_ARN, self.private_key.secret_arn)
        function.add_environment(ENV_GITHUB_API_URL, self.config.api_url)
        self.private_key.grant_read(function)
