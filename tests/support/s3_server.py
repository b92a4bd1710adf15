"""A real S3-compatible HTTP server on loopback for the S3 evidence store's tests: moto's server mode
(`ThreadedMotoServer`, werkzeug in a thread of the test process) on a port the OS picks, and the
environment that points `models.evidence_store.evidence_store()` at a fresh bucket on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SECRET = "s3cr3t-never-printed-0123456789"  # a test credential; no message may contain it
REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """The server's endpoint URL (http://127.0.0.1:PORT) while it runs."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class Bucket:
    endpoint: str
    name: str
    client: S3Client  # a client of its own, behind the store's back

    def object_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name)
        return sorted(o["Key"] for o in listed.get("Contents", []))


def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Test credentials in the standard variables; no profile, region or files from the machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup off the machine
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


def s3_bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, prefix: str = "evidence") -> Bucket:
    """A new bucket on the server, and COMPLAINTS_EVIDENCE_STORE=s3 with its settings in the environment."""
    aws_env(monkeypatch, tmp_path)
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    client.create_bucket(Bucket=name)
    monkeypatch.delenv("COMPLAINTS_EVIDENCE_DIR", raising=False)
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_STORE", "s3")
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_S3_BUCKET", name)
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_S3_PREFIX", prefix)
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_S3_REGION", REGION)
    return Bucket(endpoint, name, client)
