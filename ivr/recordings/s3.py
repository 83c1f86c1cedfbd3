"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW) through boto3.

Strategy
--------
* Every container is written **encrypted** (container.py) into a local *outbox* file
  (``recordings.s3.outbox_dir``, fsynced, 0600) and then sent with one ``PutObject``: an
  object appears whole or not at all, so no temporary objects exist in the bucket.
  When the PUT is confirmed the outbox file is removed.  When it is not (the endpoint
  refuses connections, times out after boto3's retries, answers 5xx, or refuses the
  credentials or the bucket) :meth:`S3Blobs.put_atomically` keeps the outbox file and
  returns False; :class:`ivr.recordings.outbox.Outbox` retries it every tick.  The
  bucket never sees plaintext; the outbox never holds plaintext.
* Reading prefers the outbox copy (it is the newest: a rewrap not yet uploaded), then
  the bucket, streaming the object's body (never whole in memory).
* Object keys are ``<prefix><name>``, e.g. ``recordings/ab/<id>.rec`` and
  ``recordings/.ivr-recordings`` (the store identity marker).  The time a blob was
  written is kept as user metadata ``written-at`` (the engine's clock, which
  reconciliation compares with ``orphan_grace``), else the object's LastModified.
* Errors: a missing key is :class:`FileNotFoundError`, as for a file; anything else
  the client raises (connection, timeout, 5xx, AccessDenied, InvalidAccessKeyId,
  NoSuchBucket) is :class:`ArchiveUnavailable` with the error code, never the
  credentials.
* **Hold-off**: after the archive could not be reached (refused, timed out: not an
  answer such as NoSuchBucket), every request fails at once with ArchiveUnavailable for
  ``hold_off`` seconds (``recordings.s3.retry_every``) instead of waiting out the
  timeouts again: ingests go straight to the outbox, a listener hears "archive
  unavailable" at once, and the engine's background work is not held up call after
  call by a hung endpoint.  The outbox's next round is the next try.
"""

from __future__ import annotations

import builtins
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.client import BaseClient
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from ivr.recordings.blobs import Blob, BlobInfo, Body, FileBlob, atomic_write, fsync_dir, inside
from ivr.recordings.errors import ArchiveUnavailable

log = logging.getLogger("ivr.recordings.s3")

MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
WRITTEN_AT = "written-at"


def s3_client(
    *, endpoint: str | None, region: str, path_style: bool, access_key: str | None,
    secret_key: str | None, connect_timeout: float = 3.0, read_timeout: float = 10.0, attempts: int = 3,
) -> BaseClient:
    """A boto3 S3 client; credentials only from the arguments (the environment via Secrets).

    Without credentials the requests go unsigned (anonymous), which a private bucket
    refuses: boto3's other sources (~/.aws, instance metadata) are never consulted.
    """
    anonymous = not (access_key and secret_key)
    config = BotoConfig(
        region_name=region,
        signature_version=UNSIGNED if anonymous else "s3v4",
        s3={"addressing_style": "path" if path_style else "virtual"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
        # boto3 >= 1.36 adds CRC32 checksums to every PUT by default; older MinIO and Ceph
        # RGW releases reject them.  Only where an operation requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session(
        aws_access_key_id=None if anonymous else access_key,
        aws_secret_access_key=None if anonymous else secret_key,
        region_name=region,
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "?"))


class S3Blob:
    """An object's body open for reading (a :class:`Blob`)."""

    def __init__(self, body: Any, *, size: int, fail: Callable[[BaseException], ArchiveUnavailable]) -> None:
        self._body = body
        self.size = size
        self._fail = fail

    def read(self, n: int) -> bytes:
        try:
            return bytes(self._body.read(n))
        except (BotoCoreError, Urllib3Error, OSError) as exc:  # the server went away mid-stream
            raise self._fail(exc) from exc

    def close(self) -> None:
        try:
            self._body.close()
        except (BotoCoreError, Urllib3Error, OSError):
            pass


class S3Blobs:
    """Blobs as objects of ``bucket`` under ``prefix``, with a local encrypted outbox."""

    def __init__(
        self, *, client: BaseClient, bucket: str, outbox_dir: str | os.PathLike[str], prefix: str = "",
        clock: Callable[[], float] = time.time, hold_off: float = 10.0,
    ) -> None:
        self.client = client
        self.hold_off = hold_off
        self._away_until = 0.0  # time.monotonic(): the archive is not asked before then
        self._away_cause = ""
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.outbox = Path(outbox_dir)
        self.clock = clock
        endpoint = getattr(client.meta, "endpoint_url", "?")
        self.where = f"s3://{bucket}/{self.prefix} at {endpoint}"

    # -- errors -------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException, recording_id: str | None = None) -> ArchiveUnavailable:
        cause = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
        return ArchiveUnavailable(
            f"archive unavailable: {cause}", recording_id=recording_id, archive=self.where, cause=cause
        )

    def _call(self, operation: str, **kwargs: Any) -> Any:
        if time.monotonic() < self._away_until:
            raise ArchiveUnavailable(f"archive unavailable: {self._away_cause} (not asked again yet)",
                                     archive=self.where, cause=self._away_cause)
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _code(exc) in MISSING and "Key" in kwargs:
                raise FileNotFoundError(kwargs["Key"]) from None
            raise self._unavailable(exc) from exc
        except (BotoCoreError, Urllib3Error, OSError) as exc:
            self._away_until = time.monotonic() + self.hold_off
            self._away_cause = type(exc).__name__
            raise self._unavailable(exc) from exc

    def key(self, name: str) -> str:
        return self.prefix + name

    def staged_path(self, name: str) -> Path:
        return inside(self.outbox, name)

    # -- the interface ------------------------------------------------------------------

    def create(self) -> None:
        self.outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._call("head_bucket")

    def put_atomically(self, name: str, body: Body, *, recording_id: str | None = None) -> bool:
        atomic_write(self.staged_path(name), body, recording_id=recording_id)
        try:
            self.upload(name)
        except ArchiveUnavailable as exc:
            log.warning("archive: %s kept encrypted in the outbox until the upload succeeds (%s)",
                        name, exc.details.get("cause"))
            return False
        return True

    def upload(self, name: str) -> None:
        """Send the outbox copy of ``name``; remove it once the bucket confirmed the PUT."""
        staged = self.staged_path(name)
        try:
            f = open(staged, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return  # sent meanwhile by another path of this engine (a rewrap's own upload)
        with f:
            self._call("put_object", Key=self.key(name), Body=f, ContentLength=os.fstat(f.fileno()).st_size,
                       Metadata={WRITTEN_AT: f"{self.clock():.3f}"})
        staged.unlink(missing_ok=True)
        fsync_dir(staged.parent)

    def put_small(self, name: str, data: bytes) -> None:
        self._call("put_object", Key=self.key(name), Body=data, Metadata={WRITTEN_AT: f"{self.clock():.3f}"})

    def read_small(self, name: str) -> bytes:
        reply = self._call("get_object", Key=self.key(name))
        blob = S3Blob(reply["Body"], size=int(reply["ContentLength"]), fail=self._unavailable)
        try:
            return blob.read(blob.size + 1)
        finally:
            blob.close()

    def open(self, name: str) -> Blob:
        staged = self.staged_path(name)
        if staged.is_file():
            return FileBlob(staged)
        reply = self._call("get_object", Key=self.key(name))
        return S3Blob(reply["Body"], size=int(reply["ContentLength"]), fail=self._unavailable)

    def stat(self, name: str) -> BlobInfo | None:
        staged = self.staged_path(name)
        if staged.is_file():
            st = staged.stat()
            return BlobInfo(name=name, size=st.st_size, written=st.st_mtime)
        try:
            reply = self._call("head_object", Key=self.key(name))
        except FileNotFoundError:
            return None
        written = reply.get("Metadata", {}).get(WRITTEN_AT)
        at = float(written) if written else reply["LastModified"].timestamp()
        return BlobInfo(name=name, size=int(reply["ContentLength"]), written=at)

    def delete(self, name: str) -> None:
        staged = self.staged_path(name)
        if staged.exists():
            staged.unlink(missing_ok=True)
            fsync_dir(staged.parent)
        self._call("delete_object", Key=self.key(name))

    def list(self) -> Iterator[BlobInfo]:
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            reply = self._call("list_objects_v2", Prefix=self.prefix, **extra)
            for item in reply.get("Contents", []):
                yield BlobInfo(name=item["Key"][len(self.prefix):], size=int(item["Size"]),
                               written=item["LastModified"].timestamp())
            if not reply.get("IsTruncated"):
                return
            token = reply["NextContinuationToken"]

    def staged(self) -> builtins.list[str]:
        """Names waiting in the outbox (complete files only, oldest first)."""
        if not self.outbox.exists():
            return []
        found: builtins.list[tuple[float, str]] = []
        for path in self.outbox.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                found.append((path.stat().st_mtime, path.relative_to(self.outbox).as_posix()))
        return [name for _, name in sorted(found)]
