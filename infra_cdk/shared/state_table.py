"""DynamoDB table of locks and idempotency records (the layout of Powertools' DynamoDBPersistenceLayer)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, aws_dynamodb, aws_lambda
from constructs import Construct

from infra_cdk.constants import ENV_STATE_TABLE_NAME, STATE_TABLE_PARTITION_KEY, STATE_TABLE_TTL_ATTRIBUTE


class StateTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = aws_dynamodb.Table(
            self,
            "Table",
            partition_key=aws_dynamodb.Attribute(
                name=STATE_TABLE_PARTITION_KEY, type=aws_dynamodb.AttributeType.STRING
            ),
            time_to_live_attribute=STATE_TABLE_TTL_ATTRIBUTE,
            billing_mode=aws_dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=aws_dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            # Records are short-lived, but losing them mid-flight lets a firing run twice: never drop the
            # table with the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def grant_read_write(self, function: aws_lambda.Function) -> None:
        function.add_environment(ENV_STATE_TABLE_NAME, self.table.table_name)
        self.table.grant_read_write_data(function)
