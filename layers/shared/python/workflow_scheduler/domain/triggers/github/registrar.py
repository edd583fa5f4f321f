"""The GitHub registrar: a GitHub trigger is its index row, found by repository and event (``ByGithubEvent``).

Nothing is registered at GitHub: the App's one webhook brings every installation's events, and the router picks the
triggers. An installation the service has not seen yet is accepted (the App may predate the service), but only by
a user it is linked to (``workflow-scheduler github link``): installations are tenants' data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow_scheduler.domain.errors import Problem, SpecInvalid
from workflow_scheduler.domain.models import TriggerRecord, TriggerType
from workflow_scheduler.domain.ports import DeploymentTx
from workflow_scheduler.domain.spec import TriggerSpec
from workflow_scheduler.domain.triggers.registrar import IndexOnlyRegistrar, RegistrarDeps


class InstallationNotAllowed(SpecInvalid):
    """A trigger names an App installation not linked to the deploying user (422, like a ``secret_ref`` that is not
    theirs). One message whether the installation exists, is someone else's or nobody's: nothing is learnt."""

    code = "github_installation_not_allowed"

    def __init__(self, installation_id: int, trigger_id: str) -> None:
        message = (
            f"GitHub App installation {installation_id} is not linked to you; an operator links it with "
            f"`workflow-scheduler github link {installation_id} --owner <your user id>`"
        )
        super().__init__(
            [Problem("parameters.github_app_installation_id", message, trigger_id)],
            what="a trigger's GitHub App installation",
        )


def lookup_columns(config: Mapping[str, Any]) -> dict[str, Any]:
    """A GitHub trigger's index columns from its parameters, as ``ByGithubEvent`` looks them up (GitHub ignores the
    case of repository names: they are kept in lower case). The filters are not loaded: the api function builds
    every registrar at cold start."""
    return {
        "github_repository": str(config["repository"]).lower(),
        "github_events": [str(e) for e in config["events"]],
        "github_installation_id": int(config["github_app_installation_id"]),
    }


class GithubRegistrar(IndexOnlyRegistrar):
    def __init__(self) -> None:
        super().__init__(TriggerType.GITHUB)

    def lookup_columns(self, workflow_id: str, spec: TriggerSpec) -> dict[str, Any]:
        return lookup_columns(spec.config)

    def check(self, tx: DeploymentTx, record: TriggerRecord) -> None:
        installation = int(record.lookup["github_installation_id"])
        if not tx.github_installation_linked(installation, record.workflow_id):
            raise InstallationNotAllowed(installation, record.trigger_id)

    def describe(self, record: TriggerRecord, base_url: str) -> dict[str, Any]:
        return {
            "repository": record.config.get("repository"),
            "events": record.config.get("events", []),
            "github_app_installation_id": record.config.get("github_app_installation_id"),
        }


def build(deps: RegistrarDeps) -> GithubRegistrar:
    return GithubRegistrar()
