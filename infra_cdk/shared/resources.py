"""The shared constructs every function construct may draw on, built once by the stack and handed over as one value."""

from __future__ import annotations

from dataclasses import dataclass

from infra_cdk.shared.database import Database
from infra_cdk.shared.dispatch_queue import DispatchQueue
from infra_cdk.shared.layers import Layers
from infra_cdk.shared.managed_secrets import ManagedSecrets
from infra_cdk.shared.state_table import StateTable


@dataclass(frozen=True)
class SharedResources:
    """Every function runs with ``layers`` and reaches ``database``; what else a function may use it is granted by
    its own construct (``state_table.grant_read_write``, ``dispatch_queue.grant_send``, ``managed_secrets.grant_*``)."""

    layers: Layers
    database: Database
    state_table: StateTable
    dispatch_queue: DispatchQueue
    managed_secrets: ManagedSecrets
