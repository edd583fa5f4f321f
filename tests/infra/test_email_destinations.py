"""Where e-mail triggers may make the functions connect, as deployed: never to private addresses (the local setting
EMAIL_ALLOW_PRIVATE_DESTINATIONS is set on no function), except the operator's own networks given as
emailAllowedPrivateCidrs, to the api function (deploy checks) and the poller alike; a CIDR that would open up the
functions' own host or a metadata service fails the synthesis."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra_cdk import constants
from infra_cdk.config import ConfigError, StackConfig
from tests.infra.conftest import Synthesized, service_functions
from workflow_scheduler.domain import outbound
from workflow_scheduler.settings import EmailSettings, environment_variables

ALLOW_PRIVATE = environment_variables(EmailSettings)["email_allow_private_destinations"]
ALLOWED_CIDRS = environment_variables(EmailSettings)["email_allowed_private_cidrs"]


def environments(synthesized: Synthesized) -> dict[str, dict[str, object]]:
    return {
        logical_id: function["Properties"].get("Environment", {}).get("Variables", {})
        for logical_id, function in service_functions(synthesized).items()
    }


@pytest.mark.parametrize("with_options", [False, True])
def test_no_function_may_reach_private_destinations(
    synthesized: Synthesized, synthesized_with_options: Synthesized, with_options: bool
) -> None:
    synth = synthesized_with_options if with_options else synthesized
    found = environments(synth)
    assert len(found) > 5
    assert {logical_id for logical_id, env in found.items() if ALLOW_PRIVATE in env} == set()
    if not with_options:
        assert {logical_id for logical_id, env in found.items() if ALLOWED_CIDRS in env} == set()


def test_the_operators_networks_reach_the_deploy_check_and_the_poller(synthesized_with_options: Synthesized) -> None:
    synth, stack = synthesized_with_options, synthesized_with_options.stack
    with_cidrs = {logical_id for logical_id, env in environments(synth).items() if ALLOWED_CIDRS in env}
    assert with_cidrs == {synth.logical_id(stack.api.function), synth.logical_id(stack.email_poller.function)}
    env = synth.properties(stack.email_poller.function)["Environment"]["Variables"]
    assert env[ALLOWED_CIDRS] == "10.20.0.0/16,fd12:3456::/48"
    assert ALLOWED_CIDRS == constants.ENV_EMAIL_ALLOWED_PRIVATE_CIDRS
    policy = EmailSettings(email_allowed_private_cidrs=env[ALLOWED_CIDRS]).outbound_policy()
    assert not policy.allow_private_destinations and len(policy.private_networks) == 2


@pytest.mark.parametrize("cidrs", ["127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/0", "10.0.0.0/8,fe80::/10", "banana"])
def test_a_cidr_that_opens_the_host_or_metadata_fails_the_synthesis(cidrs: str) -> None:
    with pytest.raises(ConfigError, match=constants.CTX_EMAIL_ALLOWED_PRIVATE_CIDRS):
        StackConfig.from_context(App(context={constants.CTX_EMAIL_ALLOWED_PRIVATE_CIDRS: cidrs}))


def test_the_security_group_opens_the_ports_the_policy_allows() -> None:
    assert set(constants.IMAP_PORTS) == set(outbound.IMAP_PORTS)
    assert (constants.HTTPS_PORT,) == outbound.HTTPS_PORTS
