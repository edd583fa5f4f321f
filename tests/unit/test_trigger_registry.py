"""The one registry of trigger types (domain/triggers/__init__.py): every type's parts load, a type is deployable
only where its registrar has what it needs, and a spec loads the modules of its own types only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.imports import modules_loaded_by
from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.triggers import REGISTRY, params_model, registrars
from workflow_scheduler.domain.triggers.params import TriggerParams
from workflow_scheduler.domain.triggers.registrar import RegistrarDeps


def test_every_type_is_registered_with_a_parameter_model_that_loads() -> None:
    assert set(REGISTRY) == set(TriggerType)
    for trigger_type in TriggerType:
        assert issubclass(params_model(trigger_type), TriggerParams)
        assert params_model(trigger_type).__module__.endswith(f"triggers.{trigger_type.value}.params")


class NoSchedules:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a registrar was built, nothing may be called yet ({name})")


def test_cron_is_deployable_only_with_eventbridge_scheduler_and_email_not_yet() -> None:
    without = {r.trigger_type for r in registrars(RegistrarDeps())}
    assert without == {TriggerType.MANUAL, TriggerType.WEBHOOK, TriggerType.GITHUB}
    with_schedules = {r.trigger_type for r in registrars(RegistrarDeps(schedules=NoSchedules()))}  # type: ignore[arg-type]
    assert with_schedules == {TriggerType.CRON, TriggerType.MANUAL, TriggerType.WEBHOOK, TriggerType.GITHUB}


def test_parsing_a_spec_loads_only_the_modules_of_its_trigger_types() -> None:
    loaded = " ".join(
        modules_loaded_by(
            "from workflow_scheduler.domain.spec import parse_workflow_spec\n"
            "parse_workflow_spec({'nodes': [{'id': 'h', 'node_type': 'TRIGGER_NODE', 'subtype': 'TRIGGER_WEBHOOK'}]})"
        )
    )
    assert "triggers.webhook.params" in loaded
    assert "triggers.cron" not in loaded and "triggers.email" not in loaded and "triggers.github" not in loaded


def test_every_deployable_type_fires_through_the_one_interface() -> None:
    from tests.support.fakes import MemoryFiringStore, MemoryQueue
    from workflow_scheduler.domain.firing import FiringDeps, FiringOutcome, FiringService
    from workflow_scheduler.domain.triggers import firing
    from workflow_scheduler.domain.triggers.cron.firing import CronInvocation
    from workflow_scheduler.domain.triggers.webhook.firing import WebhookNotFound, WebhookRequest

    store = MemoryFiringStore()
    deps = FiringDeps(store, FiringService(store, MemoryQueue()), read_secret=str, max_body_bytes=1024)
    scheduled = CronInvocation(workflow_id="wf", trigger_id="c", version=1, scheduled_time="2026-06-01T09:00:00Z")
    outcome = firing(TriggerType.CRON, deps).fire(scheduled)
    assert isinstance(outcome, FiringOutcome) and outcome.reason == "the trigger is not deployed"
    with pytest.raises(WebhookNotFound):
        firing(TriggerType.WEBHOOK, deps).fire(WebhookRequest("POST", "/webhook/none", {}))
    for not_a_trigger_firing in (TriggerType.EMAIL, TriggerType.GITHUB):  # GitHub's is the router
        with pytest.raises(ValueError, match="no TriggerFiring"):
            firing(not_a_trigger_firing, deps)
