"""The github router (issue 9): the consumer of the github events queue, which fires the GitHub triggers a recorded
delivery matches onto the dispatch queue, asking GitHub's API as the App for changed files and enrichment.

An SQS event source with partial batch responses (``ReportBatchItemFailures``): a delivery postponed (GitHub's rate
limit or an outage) or failed comes back after the queue's visibility timeout, and after ``max_receives`` deliveries
is parked in the dead-letter queue; the function knows its last attempt by the same number.
"""

from __future__ import annotations

from aws_cdk import aws_lambda, aws_lambda_event_sources
from constructs import Construct

from infra_cdk.constants import (
    ENV_GITHUB_ROUTER_MAX_RECEIVES,
    GITHUB_ROUTER_BATCH_SIZE,
    GITHUB_ROUTER_BATCHING_WINDOW,
    GITHUB_ROUTER_FUNCTION,
    GITHUB_ROUTER_FUNCTION_ID,
    GITHUB_ROUTER_MAX_CONCURRENCY,
    GITHUB_ROUTER_MEMORY_MB,
    GITHUB_ROUTER_TIMEOUT,
)
from infra_cdk.functions.github import GithubWebhooks
from infra_cdk.shared.alarms import Alarms
from infra_cdk.shared.function import ServiceFunction
from infra_cdk.shared.github_app import GithubApp
from infra_cdk.shared.resources import SharedResources


class GithubRouter(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: SharedResources,
        github_app: GithubApp,
        webhooks: GithubWebhooks,
    ) -> None:
        super().__init__(scope, construct_id)
        # Lambda refuses an SQS event source whose visibility timeout is shorter than the function timeout.
        if webhooks.visibility_timeout.to_seconds() < GITHUB_ROUTER_TIMEOUT.to_seconds():
            raise ValueError("the github events queue's visibility timeout must be at least the router's timeout")
        self.function: aws_lambda.Function = ServiceFunction(
            self,
            GITHUB_ROUTER_FUNCTION_ID,
            shared=shared,
            name=GITHUB_ROUTER_FUNCTION,
            description="Routes recorded GitHub deliveries: matches the GitHub triggers' filters, queues firings",
            memory_size=GITHUB_ROUTER_MEMORY_MB,
            timeout=GITHUB_ROUTER_TIMEOUT,
            environment={ENV_GITHUB_ROUTER_MAX_RECEIVES: str(webhooks.max_receives)},
        ).function
        shared.dispatch_queue.grant_send(self.function)
        github_app.grant_api(self.function)
        # Binding the event source grants what consuming takes (sqs:ReceiveMessage, DeleteMessage, ...).
        self.event_source = aws_lambda_event_sources.SqsEventSource(
            webhooks.queue,
            batch_size=GITHUB_ROUTER_BATCH_SIZE,
            max_batching_window=GITHUB_ROUTER_BATCHING_WINDOW,
            report_batch_item_failures=True,
            max_concurrency=GITHUB_ROUTER_MAX_CONCURRENCY,
        )
        self.function.add_event_source(self.event_source)

    def add_alarms(self, alarms: Alarms) -> None:
        # Postponed deliveries are partial batch failures, not errors: an error is a crash or a timeout.
        self.errors = alarms.add_errors(
            "GithubRouterErrors",
            (
                "The github router failed whole invocations (crash, timeout, or an unreachable database): their "
                "deliveries are delayed and may be parked. See the function's logs."
            ),
            self.function,
        )
