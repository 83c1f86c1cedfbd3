"""Where the encrypted containers live: a small storage interface and its directory form.

Strategy: the store (store.py), the purge and reconciliation (purge.py) and key rotation
only ever see *names* (``ab/<id>.rec``, the marker ``.ivr-recordings``) and these few
operations; what a name is on disk or in a bucket is the backend's business:

* :meth:`Blobs.put_atomically` - ``body(fd)`` writes the whole blob into a local file;
  readers then see the whole new blob or the old one, never a part.  Returns True when
  the blob is in the archive, False when it is kept *encrypted* in a local outbox
  because the archive could not confirm it (an object store that is down): the caller
  records that it is waiting (``RecordingIndex.mark_unarchived``) and
  :class:`ivr.recordings.outbox.Outbox` uploads it later.  A directory never says False.
* :meth:`open` (a :class:`Blob`: ``size``, ``read(n)``, ``close()``), :meth:`stat`,
  :meth:`delete` (a missing blob is fine), :meth:`list` (every blob, markers and
  strangers included, for reconciliation), :meth:`read_small` / :meth:`put_small` (the
  store identity marker).
* A missing blob is :class:`FileNotFoundError` on both backends; an archive that cannot
  be reached is :class:`ivr.recordings.errors.ArchiveUnavailable`; a full disk is
  :class:`ivr.recordings.errors.StorageFull`.

Two implementations: :class:`DirectoryBlobs` here (the default: ``<root>/<name>``, files
fsynced and renamed into place) and :class:`ivr.recordings.s3.S3Blobs` (an S3-compatible
bucket through boto3).
"""

from __future__ import annotations

import builtins
import errno
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from ivr.recordings.errors import BadRecordingId, StorageFull

Writer = Callable[[int, bytes], int]
Body = Callable[[int], None]


@dataclass(frozen=True)
class BlobInfo:
    name: str  # relative, "/"-separated: "ab/<id>.rec", ".ivr-recordings", "README"
    size: int
    written: float  # epoch seconds: when the blob was last written


class Blob(Protocol):
    """One blob open for reading, from its start."""

    size: int

    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class Blobs(Protocol):
    where: str  # for messages and logs: a directory path or s3://bucket/prefix (no secrets)

    def create(self) -> None: ...

    def put_atomically(self, name: str, body: Body, *, recording_id: str | None = None) -> bool: ...

    def put_small(self, name: str, data: bytes) -> None: ...

    def read_small(self, name: str) -> bytes: ...

    def open(self, name: str) -> Blob: ...

    def stat(self, name: str) -> BlobInfo | None: ...

    def delete(self, name: str) -> None: ...

    def list(self) -> Iterator[BlobInfo]: ...

    def staged(self) -> builtins.list[str]: ...

    def upload(self, name: str) -> None: ...


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(final: Path) -> Path:
    """``<dir>/.<stem>.<random>.tmp`` beside ``final`` (same directory, same filesystem)."""
    stem = final.name.rsplit(".", 1)[0]
    return final.with_name(f".{stem}.{secrets.token_hex(8)}.tmp")


def atomic_write(final: Path, body: Body, *, recording_id: str | None = None) -> None:
    """Run ``body(fd)`` on a 0600 temp file beside ``final``; fsync; rename; fsync the directory.

    Any failure removes the temporary file; ENOSPC/EDQUOT become :class:`StorageFull`.
    """
    tmp: Path | None = None
    fd = -1
    try:
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = temp_name(final)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        body(fd)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, final)
        tmp = None
        fsync_dir(final.parent)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(
                "no space left for the recording; nothing was stored",
                recording_id=recording_id,
                path=str(final.parent),
            ) from exc
        raise
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass


def inside(root: Path, name: str) -> Path:
    """``root/name``, refused if it resolves outside ``root`` (a symlinked shard, '..')."""
    path = root / name
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise BadRecordingId("recording path escapes the store root", given=name[:80])
    return path


class FileBlob:
    """A local file open for reading (a :class:`Blob`)."""

    def __init__(self, path: Path) -> None:
        self._f: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.size = os.fstat(self._f.fileno()).st_size

    def read(self, n: int) -> bytes:
        return self._f.read(n)

    def close(self) -> None:
        self._f.close()


class DirectoryBlobs:
    """Blobs as files under ``root`` (the default store, ``recordings.dir``)."""

    def __init__(self, *, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.where = str(self.root)

    def path(self, name: str) -> Path:
        return inside(self.root, name)

    def create(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put_atomically(self, name: str, body: Body, *, recording_id: str | None = None) -> bool:
        atomic_write(self.path(name), body, recording_id=recording_id)
        return True

    def put_small(self, name: str, data: bytes) -> None:
        path = self.path(name)
        path.write_bytes(data)
        os.chmod(path, 0o600)

    def read_small(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def open(self, name: str) -> Blob:
        return FileBlob(self.path(name))

    def stat(self, name: str) -> BlobInfo | None:
        try:
            st = self.path(name).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(name=name, size=st.st_size, written=st.st_mtime)

    def delete(self, name: str) -> None:
        path = self.path(name)
        path.unlink(missing_ok=True)
        if path.parent.exists():
            fsync_dir(path.parent)

    def list(self) -> Iterator[BlobInfo]:
        if not self.root.exists():
            return
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for filename in sorted(filenames):
                path = Path(dirpath) / filename
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue
                yield BlobInfo(name=path.relative_to(self.root).as_posix(), size=st.st_size, written=st.st_mtime)

    def staged(self) -> builtins.list[str]:
        return []  # every put is final

    def upload(self, name: str) -> None:
        return None
