"""Choose where the encrypted recordings live, from ``recordings.storage``.

``directory`` (the default): ``recordings.dir`` on this machine.  ``s3``: the bucket of
``recordings.s3`` through boto3, shared by every engine machine, with a local outbox for
the times it cannot be reached; credentials from the environment (Secrets).
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.config.schema import Config
from ivr.config.secrets import Secrets
from ivr.recordings.blobs import Blobs, DirectoryBlobs
from ivr.recordings.s3 import S3Blobs, s3_client


def build_blobs(config: Config, secrets: Secrets, *, clock: Callable[[], float]) -> Blobs:
    settings = config.recordings
    if settings.storage != "s3" or settings.s3 is None:
        return DirectoryBlobs(root=config.path(settings.dir))
    s3 = settings.s3
    client = s3_client(
        endpoint=s3.endpoint, region=s3.region, path_style=s3.path_style,
        access_key=secrets.s3_access_key, secret_key=secrets.s3_secret_key,
        connect_timeout=s3.connect_timeout, read_timeout=s3.read_timeout, attempts=s3.attempts,
    )
    return S3Blobs(client=client, bucket=s3.bucket, prefix=s3.prefix, outbox_dir=config.path(s3.outbox_dir),
                   clock=clock, hold_off=s3.retry_every)


def storage_message(config: Config, secrets: Secrets, blobs: Blobs) -> str:
    """One start-up line saying where recordings go (never a credential)."""
    if config.recordings.storage != "s3":
        return f"stored in the directory {blobs.where}"
    message = f"archive {blobs.where}"
    if not (secrets.s3_access_key and secrets.s3_secret_key):
        message += "; WARNING: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY not set: requests go unsigned"
    return message
