"""Large e-mail attachments in S3 (the ``AttachmentStore`` of domain/triggers/email/message.py): the object under
the trigger's key, and a presigned GET URL the engine downloads it with.

The bucket encrypts and expires objects (CDK). A presigned URL lives ``expires_in`` seconds at most, and never
longer than the credentials that signed it: the Lambda role's session credentials are the shorter limit there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from workflow_scheduler.domain.triggers.email.mailbox import AttachmentStoreUnavailable

DEFAULT_URL_SECONDS = 24 * 3600
MAX_URL_SECONDS = 7 * 24 * 3600  # SigV4's limit


def content_disposition(filename: str) -> str:
    """``attachment`` with the name (RFC 6266): an ASCII fallback and the UTF-8 name, so downloads keep it."""
    if not filename:
        return "attachment"
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class S3AttachmentStore:
    def __init__(
        self, bucket: str, prefix: str = "email-attachments/", expires_in: int = DEFAULT_URL_SECONDS, client: Any = None
    ) -> None:
        if not 0 < expires_in <= MAX_URL_SECONDS:
            raise ValueError(f"expires_in must be between 1 and {MAX_URL_SECONDS} seconds")
        if client is None:
            import boto3

            client = boto3.client("s3")
        self._s3 = client
        self._bucket = bucket
        self._prefix = prefix
        self._expires_in = expires_in

    def put(self, key: str, content: bytes, content_type: str, filename: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        object_key = f"{self._prefix}{key}"
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=object_key,
                Body=content,
                ContentType=content_type or "application/octet-stream",
                ContentDisposition=content_disposition(filename),
            )
            url: str = self._s3.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": object_key}, ExpiresIn=self._expires_in
            )
        except (BotoCoreError, ClientError) as exc:
            raise AttachmentStoreUnavailable(
                f"attachment store bucket {self._bucket!r} cannot take {object_key!r}: {type(exc).__name__}"
            ) from exc
        return url
