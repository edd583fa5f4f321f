"""PostgreSQL 16 on RDS in a private subnet, reached only through RDS Proxy (TLS required)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from aws_cdk import RemovalPolicy, aws_ec2, aws_lambda, aws_logs, aws_rds
from constructs import Construct

from infra_cdk import nag
from infra_cdk.constants import (
    DB_ADMIN_USER,
    DB_ALLOCATED_STORAGE_GB,
    DB_BACKUP_RETENTION,
    DB_MAX_ALLOCATED_STORAGE_GB,
    DB_NAME,
    DB_PORT,
    DB_SECRET_ROTATION,
    ENV_DB_HOST,
    ENV_DB_NAME,
    ENV_DB_SECRET_ARN,
    LOG_RETENTION,
    VPC_MAX_AZS,
    VPC_NAT_GATEWAYS,
)


@dataclass(frozen=True)
class FunctionNetwork:
    """Where a function that uses the database runs: egress subnets, in the proxy's client group."""

    vpc: aws_ec2.IVpc
    subnets: aws_ec2.SubnetSelection
    security_group: aws_ec2.ISecurityGroup


# The database and its proxy: subnets without any route out.
ISOLATED = aws_ec2.SubnetSelection(subnet_type=aws_ec2.SubnetType.PRIVATE_ISOLATED)


class Database(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.vpc = self._vpc()
        self.client_security_group = aws_ec2.SecurityGroup(
            self, "ClientSecurityGroup", vpc=self.vpc, description="Lambda functions that use the database"
        )
        self.network = FunctionNetwork(
            vpc=self.vpc,
            subnets=aws_ec2.SubnetSelection(subnet_type=aws_ec2.SubnetType.PRIVATE_WITH_EGRESS),
            security_group=self.client_security_group,
        )

        self.instance = self._instance()
        if self.instance.secret is None:
            raise ValueError("the database has no generated secret")  # from_generated_secret always makes one
        self.secret = self.instance.secret
        # The rotation function calls the Secrets Manager API: it needs the egress subnets.
        self.instance.add_rotation_single_user(automatically_after=DB_SECRET_ROTATION, vpc_subnets=self.network.subnets)

        self.proxy = self._proxy()

    def _vpc(self) -> aws_ec2.Vpc:
        # Functions run in the egress subnets: Secrets Manager, GitHub, IMAP and the engine are outside.
        # The database and its proxy sit in isolated subnets, with no route out at all.
        return aws_ec2.Vpc(
            self,
            "Vpc",
            max_azs=VPC_MAX_AZS,
            nat_gateways=VPC_NAT_GATEWAYS,
            subnet_configuration=[
                aws_ec2.SubnetConfiguration(name="public", subnet_type=aws_ec2.SubnetType.PUBLIC, cidr_mask=24),
                aws_ec2.SubnetConfiguration(
                    name="app", subnet_type=aws_ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                aws_ec2.SubnetConfiguration(name="data", subnet_type=aws_ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            # DynamoDB (locks, idempotency) through a free gateway endpoint rather than the NAT gateway.
            gateway_endpoints={
                "DynamoDb": aws_ec2.GatewayVpcEndpointOptions(service=aws_ec2.GatewayVpcEndpointAwsService.DYNAMODB)
            },
            flow_logs={
                "FlowLogs": aws_ec2.FlowLogOptions(
                    destination=aws_ec2.FlowLogDestination.to_cloud_watch_logs(
                        aws_logs.LogGroup(self, "FlowLogsGroup", retention=LOG_RETENTION)
                    )
                )
            },
        )

    def _instance(self) -> aws_rds.DatabaseInstance:
        instance = aws_rds.DatabaseInstance(
            self,
            "Instance",
            # The major version only: RDS applies minor upgrades itself, and a pinned minor in the template
            # would later ask CloudFormation to downgrade.
            engine=aws_rds.DatabaseInstanceEngine.postgres(version=aws_rds.PostgresEngineVersion.VER_16),
            instance_type=aws_ec2.InstanceType.of(
                aws_ec2.InstanceClass.BURSTABLE4_GRAVITON, aws_ec2.InstanceSize.SMALL
            ),
            vpc=self.vpc,
            vpc_subnets=ISOLATED,
            database_name=DB_NAME,
            credentials=aws_rds.Credentials.from_generated_secret(DB_ADMIN_USER),
            multi_az=True,
            storage_encrypted=True,
            storage_type=aws_rds.StorageType.GP3,
            allocated_storage=DB_ALLOCATED_STORAGE_GB,
            max_allocated_storage=DB_MAX_ALLOCATED_STORAGE_GB,
            backup_retention=DB_BACKUP_RETENTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.SNAPSHOT,
            auto_minor_version_upgrade=True,
            cloudwatch_logs_exports=["postgresql"],
            cloudwatch_logs_retention=LOG_RETENTION,
        )
        # cfn-lint's W3691 lists every major-only version ("16") as deprecated; RDS takes it and picks the
        # current minor version.
        cfn_instance = cast(aws_rds.CfnDBInstance, instance.node.default_child)
        cfn_instance.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3691"]}})
        nag.acknowledge(
            instance,
            "only the proxy's security group may reach the instance, in subnets without a route out; a "
            "non-default port would add no protection, and RDS Proxy's PostgreSQL endpoint is 5432 anyway",
            "AwsSolutions-RDS11",
        )
        # The PostgreSQL log's retention is set by aws-cdk-lib's LogRetention function (the log group is
        # created by RDS itself, so it cannot be declared here).
        nag.acknowledge_singleton(
            self,
            "LogRetention",
            "aws-cdk-lib's LogRetention function sets retention on log groups whose names are only known at "
            "deploy time, hence logs:PutRetentionPolicy/DeleteRetentionPolicy on any log group",
            "AwsSolutions-IAM5[Resource::*]",
        )
        nag.acknowledge_singleton(self, "LogRetention", nag.MANAGED_EXECUTION_POLICY_REASON, nag.LAMBDA_BASIC_EXECUTION)
        return instance

    def _proxy(self) -> aws_rds.DatabaseProxy:
        # Functions reach PostgreSQL only through the proxy: it pools connections across invocations.
        proxy_security_group = aws_ec2.SecurityGroup(
            self, "ProxySecurityGroup", vpc=self.vpc, description="RDS Proxy in front of the database"
        )
        proxy = self.instance.add_proxy(
            "Proxy",
            vpc=self.vpc,
            vpc_subnets=ISOLATED,
            secrets=[self.secret],
            security_groups=[proxy_security_group],
            require_tls=True,
            iam_auth=False,
        )
        proxy.connections.allow_from(self.client_security_group, aws_ec2.Port.tcp(DB_PORT), "functions to the proxy")
        return proxy

    def allow_client(self, security_group: aws_ec2.ISecurityGroup) -> FunctionNetwork:
        """A function network whose own ``security_group`` reaches the proxy (and, if it restricts its egress,
        only the proxy until the caller adds more)."""
        self.proxy.connections.allow_from(security_group, aws_ec2.Port.tcp(DB_PORT), "a function to the proxy")
        return FunctionNetwork(vpc=self.vpc, subnets=self.network.subnets, security_group=security_group)

    def grant_connect(self, function: aws_lambda.Function) -> None:
        """Give ``function`` what ``DatabaseSettings`` reads: the secret (readable), the proxy, the name.

        The function must have been created in ``self.network``: that is what lets it reach the proxy.
        """
        function.add_environment(ENV_DB_SECRET_ARN, self.secret.secret_arn)
        function.add_environment(ENV_DB_HOST, self.proxy.endpoint)
        function.add_environment(ENV_DB_NAME, DB_NAME)
        self.secret.grant_read(function)
