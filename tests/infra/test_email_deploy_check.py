"""The api function can check an e-mail trigger's mailbox at deploy: it knows the service mailbox's secret and may
read it, may read the triggers' own (owner-tagged) secrets, and its network reaches IMAP and the OAuth endpoints."""

from __future__ import annotations

from typing import Any

from infra_cdk import constants
from tests.infra.conftest import Synthesized, actions, role_statements
from workflow_scheduler.settings import ApiSettings, environment_variables


def egress_ports(synthesized: Synthesized, group_ids: list[Any]) -> set[int] | None:
    """The TCP ports the security groups let out to anywhere (None: every port)."""
    ports: set[int] = set()
    for resource in synthesized.resources("AWS::EC2::SecurityGroup").values():
        rules = resource["Properties"].get("SecurityGroupEgress", [])
        lid = next(lid for lid, r in synthesized.template["Resources"].items() if r is resource)
        if {"Fn::GetAtt": [lid, "GroupId"]} not in group_ids:
            continue
        for rule in rules:
            if rule.get("CidrIp") != "0.0.0.0/0":
                continue
            if rule["IpProtocol"] == "-1":
                return None
            ports.update(range(rule["FromPort"], rule["ToPort"] + 1))
    return ports


def test_the_api_function_may_log_in_to_the_service_mailbox_and_the_triggers_own(synthesized: Synthesized) -> None:
    stack = synthesized.stack
    props = synthesized.properties(stack.api.function)
    mailbox = {"Ref": synthesized.logical_id(stack.email_poller.service_mailbox)}
    env = props["Environment"]["Variables"]
    assert env[constants.ENV_EMAIL_MAILBOX_SECRET_ARN] == mailbox
    assert constants.ENV_EMAIL_MAILBOX_SECRET_ARN in environment_variables(ApiSettings).values()

    statements = role_statements(synthesized, stack.api.function)
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in actions(s)]
    assert any(mailbox in s["Resource"] and "Condition" not in s for s in reads)
    owned = [s for s in reads if s.get("Condition", {}).get("Null")]
    assert owned and all(
        s["Condition"]["Null"] == {f"secretsmanager:ResourceTag/{constants.SECRET_OWNER_TAG}": "false"} for s in owned
    )

    ports = egress_ports(synthesized, props["VpcConfig"]["SecurityGroupIds"])
    assert ports is None or {*constants.IMAP_PORTS, constants.HTTPS_PORT} <= ports
