"""The one registry of trigger types: for each ``TriggerType``, where its parts live.

Every type is a package here with the same parts: ``params.py`` (its parameter model and validation),
``registrar.py`` (deploy-time side effects with their compensation) and ``firing.py`` (an outside event becomes
the one ``TriggerEvent``: a ``TriggerFiring``); the last two each have ``build(deps)``. Adding a type is its folder and
one entry below. Parts are named as ``module:attribute`` under this package and imported on first use, so a
function's cold start loads only the types it serves (the webhook function never imports the cron modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from workflow_scheduler.domain.models import TriggerType
from workflow_scheduler.domain.triggers.params import TriggerParams, secret_fields

if TYPE_CHECKING:
    from collections.abc import Callable

    from workflow_scheduler.domain.firing import FiringDeps, TriggerFiring
    from workflow_scheduler.domain.triggers.registrar import RegistrarDeps, TriggerRegistrar


@dataclass(frozen=True)
class TriggerTypeParts:
    params: str  # the parameter model
    registrar: str | None = None  # build(deps) -> its registrar, or None without what it needs; no entry: not yet
    firing: str | None = None  # build(deps) -> its TriggerFiring


REGISTRY: dict[TriggerType, TriggerTypeParts] = {
    TriggerType.CRON: TriggerTypeParts("cron.params:CronParams", "cron.registrar:build", "cron.firing:build"),
    TriggerType.MANUAL: TriggerTypeParts("manual.params:ManualParams", "manual.registrar:build", "manual.firing:build"),
    TriggerType.WEBHOOK: TriggerTypeParts(
        "webhook.params:WebhookParams", "webhook.registrar:build", "webhook.firing:build"
    ),
    # Fired by the scheduled poll (email/service.py), not through a TriggerFiring.
    TriggerType.EMAIL: TriggerTypeParts("email.params:EmailParams", "email.registrar:build"),
    # No firing builder: the github router fires (domain/triggers/github/router.py; one delivery, many triggers).
    TriggerType.GITHUB: TriggerTypeParts("github.params:GithubParams", "github.registrar:build"),
}


def _load(part: str) -> Any:
    module, _, attribute = part.partition(":")
    return getattr(import_module(f"{__name__}.{module}"), attribute)


def params_model(trigger_type: TriggerType) -> type[TriggerParams]:
    model = _load(REGISTRY[trigger_type].params)
    if not (isinstance(model, type) and issubclass(model, TriggerParams)):
        raise TypeError(f"{REGISTRY[trigger_type].params} is not a TriggerParams model")
    return model


def registrars(deps: RegistrarDeps) -> list[TriggerRegistrar]:
    """The registrar of every type that can be deployed with ``deps``; the others are refused at deploy."""
    available = []
    for parts in REGISTRY.values():
        if parts.registrar is not None:
            build: Callable[[RegistrarDeps], TriggerRegistrar | None] = _load(parts.registrar)
            if (registrar := build(deps)) is not None:
                available.append(registrar)
    return available


def firing(trigger_type: TriggerType, deps: FiringDeps) -> TriggerFiring[Any]:
    """The type's firing; its request type is the type's own (``CronInvocation``, ``WebhookRequest``, ...)."""
    part = REGISTRY[trigger_type].firing
    if part is None:
        raise ValueError(f"{trigger_type.subtype} triggers have no TriggerFiring (see REGISTRY)")
    build: Callable[[FiringDeps], TriggerFiring[Any]] = _load(part)
    return build(deps)


@cache
def secret_field_names() -> frozenset[str]:
    """The names of the secret fields of every type (never quoted back in an error, whatever the node's type)."""
    return frozenset(f.path[-1] for trigger_type in REGISTRY for f in secret_fields(params_model(trigger_type)))
