"""Alarms of the firing path, and the encrypted SNS topic they notify (subscribe to it: docs/deploy.md)."""

from __future__ import annotations

from aws_cdk import (
    ArnFormat,
    RemovalPolicy,
    Stack,
    aws_cloudwatch,
    aws_cloudwatch_actions,
    aws_iam,
    aws_kms,
    aws_lambda,
    aws_sns,
    aws_sns_subscriptions,
    aws_sqs,
)
from constructs import Construct

from infra_cdk.constants import ALARM_PERIOD, SERVICE_NAME
from infra_cdk.shared.dispatch_queue import DispatchQueue


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dispatch_queue: DispatchQueue,
        dispatch_function: aws_lambda.IFunction,
        schedules_dead_letters: aws_sqs.IQueue,
        email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._add_topic(email)

        # Any parked firing needs an operator: fix the cause, then redrive (docs/deploy.md).
        self.parked_firings = self.add_parked(
            "ParkedFirings",
            (
                "Firings are parked in the dispatch dead-letter queue: they did not reach the workflow engine after "
                "every attempt. Find the cause in the dispatch function's logs (event firing_parked), then redrive."
            ),
            dispatch_queue.dead_letters,
        )
        # Record failures are answered as partial batch failures, not errors: an error is a crash or a timeout
        # of a whole batch (its records come back only after the queue's visibility timeout).
        self.dispatch_errors = self.add_errors(
            "DispatchErrors",
            (
                "The dispatch function failed whole invocations (crash, timeout, or an unreachable database): "
                "their firings are delayed and may be parked. See the function's logs."
            ),
            dispatch_function,
        )
        # A cron firing that never reached the dispatch queue: EventBridge Scheduler could not invoke the cron function,
        # or the function failed every retry. Nothing retries it any more: replay it (docs/deploy.md).
        self.failed_cron_firings = self.add_parked(
            "FailedCronFirings",
            (
                "Cron firings (or a daily reconcile run) are in the schedules' dead-letter queue: EventBridge "
                "Scheduler could not invoke the function, or the cron function failed every retry. See the cron "
                "function's logs, fix the cause, then replay the messages (docs/deploy.md)."
            ),
            schedules_dead_letters,
        )

    def _add_topic(self, email: str | None) -> None:
        # A customer managed key: the AWS managed key of SNS (alias/aws/sns) does not let CloudWatch publish.
        self.key = aws_kms.Key(
            self,
            "TopicKey",
            description=f"{SERVICE_NAME}: encrypts the alarm notifications topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,  # it encrypts only transient notifications
        )
        self.topic = aws_sns.Topic(
            self, "Topic", display_name=f"{SERVICE_NAME} alarms", master_key=self.key, enforce_ssl=True
        )
        self._let_cloudwatch_publish()
        if email:
            self.topic.add_subscription(aws_sns_subscriptions.EmailSubscription(email))

    def add(
        self,
        construct_id: str,
        description: str,
        metric: aws_cloudwatch.IMetric,
        *,
        periods: int = 1,
        below: bool = False,
        missing_data: aws_cloudwatch.TreatMissingData = aws_cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> aws_cloudwatch.Alarm:
        """An alarm on the topic (it notifies when it fires and when it is OK again): ``metric`` at or above 1
        (``below``: under 1) in each of ``periods`` periods in a row; OK while there is no data, by default."""
        alarm = aws_cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            comparison_operator=aws_cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
            if below
            else aws_cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=periods,
            treat_missing_data=missing_data,
        )
        action = aws_cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm

    def add_errors(
        self, construct_id: str, description: str, function: aws_lambda.IFunction, *, periods: int = 1
    ) -> aws_cloudwatch.Alarm:
        """An alarm on ``function``'s errors: whole invocations that failed (a crash or a timeout)."""
        metric = function.metric_errors(period=ALARM_PERIOD, statistic=aws_cloudwatch.Stats.SUM)
        return self.add(construct_id, description, metric, periods=periods)

    def add_parked(self, construct_id: str, description: str, dead_letters: aws_sqs.IQueue) -> aws_cloudwatch.Alarm:
        """An alarm on any message in the dead-letter queue ``dead_letters``."""
        metric = dead_letters.metric_approximate_number_of_messages_visible(
            period=ALARM_PERIOD, statistic=aws_cloudwatch.Stats.MAXIMUM
        )
        return self.add(construct_id, description, metric)

    def _let_cloudwatch_publish(self) -> None:
        """CloudWatch alarms of this account publish to the topic and use its key (AWS's documented statements).

        Written by hand: ``topic.grant_publish`` would copy the alarm-ARN condition into the key policy too, where
        CloudWatch's calls are not documented to carry it; a notification that silently fails is the worst outcome.
        """
        stack = Stack.of(self)
        cloudwatch = aws_iam.ServicePrincipal("cloudwatch.amazonaws.com")
        self.topic.add_to_resource_policy(
            aws_iam.PolicyStatement(
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        self.key.grant(cloudwatch, "kms:Decrypt", "kms:GenerateDataKey*")
