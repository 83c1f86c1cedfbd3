"""An S3-protocol server on loopback for tests: moto in server mode (``moto[server]``).

The engine talks to it with boto3 over HTTP exactly as it would to MinIO or Ceph RGW
(endpoint URL, path-style addressing, SigV4).  moto keeps its buckets in the memory of
the process that runs it, so a server stopped and started again on the same port (an
outage and its end) finds its buckets as they were.

* :meth:`S3Server.stop` - the archive is down: the listening socket is closed,
  connections are refused.
* :meth:`S3Server.hang` - the archive is slow: the socket stays open and nobody answers
  (connections wait in the backlog until the client's read timeout).
* :meth:`S3Server.start` - up again, same port, same buckets.
"""

from __future__ import annotations

import secrets
import socket
from typing import Any

from moto.server import ThreadedMotoServer

ACCESS_KEY = "ivr-test-access"
SECRET_KEY = "ivr-test-secret-0123456789"  # moto accepts any; MinIO would check them
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self._server: ThreadedMotoServer | None = None
        self._silent: socket.socket | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self._close()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def _close(self) -> None:
        if self._server is not None:
            self._server.stop()  # werkzeug closes the listening socket when serve_forever ends
            inner: Any = getattr(self._server, "_server", None)
            if inner is not None:
                inner.server_close()
            self._server = None
        if self._silent is not None:
            self._silent.close()
            self._silent = None

    def stop(self) -> None:
        self._close()

    def hang(self) -> None:
        """Stop answering but keep taking connections (a stalled server): the port listens,
        the kernel completes the handshakes, nobody reads or answers."""
        self._close()
        silent = socket.socket()
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", self.port))
        silent.listen(64)
        self._silent = silent

    def client(self) -> Any:
        """A plain boto3 client for the test's own look at the bucket."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def new_bucket(self) -> str:
        name = f"rec-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name
