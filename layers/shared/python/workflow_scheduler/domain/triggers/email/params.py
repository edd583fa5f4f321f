"""The parameters of an e-mail trigger (the type cannot be deployed yet: it has no registrar)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from workflow_scheduler.domain.triggers.params import TriggerParams


class EmailParams(TriggerParams):
    email_filter: str = Field(default="", max_length=1024)
    folder: str = Field(default="INBOX", min_length=1, max_length=256)
    mark_as_read: bool = True
    attachment_processing: Literal["include", "exclude"] = "exclude"
    imap_host: str | None = Field(default=None, max_length=255)
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_ssl: bool = True
    username: str | None = Field(default=None, max_length=320)
    password_ref: str | None = Field(default=None, max_length=2048)
