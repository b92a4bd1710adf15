"""Where evidence files' bytes live: content-addressed (the name is the SHA-256 of the bytes).

`EvidenceStore` is the small interface the workbench uses (put, read, rehash). Two stores, chosen by
`evidence_store` from the environment (docs/casework.md):

* `DirectoryStore` (the default) keeps each file once under `<root>/<aa>/<bb>/<sha256>` (written to
  a temporary name, then renamed, read-only); the root is COMPLAINTS_EVIDENCE_DIR, default
  var/evidence. Several machines share one store by pointing the variable at a shared mount.
* `S3Store` (COMPLAINTS_EVIDENCE_STORE=s3) keeps one object per digest in an S3-compatible bucket
  under `<prefix>/<aa>/<bb>/<sha256>`: written only when absent (HEAD, then a PUT with
  `If-None-Match: *`), read with GET, re-hashed by streaming the object through SHA-256. Endpoint,
  bucket, prefix and region are COMPLAINTS_EVIDENCE_S3_*; the credentials are boto3's own chain
  (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role …), never read, kept or
  printed here. The bucket is checked when the store is made, so a wrong setting stops the start.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from settings.config import REPO_ROOT
from settings.source import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KIND_ENV = "COMPLAINTS_EVIDENCE_STORE"  # "directory" (default) or "s3"
DIR_ENV = "COMPLAINTS_EVIDENCE_DIR"
S3_ENDPOINT_ENV = "COMPLAINTS_EVIDENCE_S3_ENDPOINT"  # e.g. https://minio.bank.internal:9000; unset: AWS S3
S3_BUCKET_ENV = "COMPLAINTS_EVIDENCE_S3_BUCKET"
S3_PREFIX_ENV = "COMPLAINTS_EVIDENCE_S3_PREFIX"  # default "evidence"
S3_REGION_ENV = "COMPLAINTS_EVIDENCE_S3_REGION"  # unset: boto3's (AWS_DEFAULT_REGION, ~/.aws/config)
S3_ENVS = (S3_ENDPOINT_ENV, S3_BUCKET_ENV, S3_PREFIX_ENV, S3_REGION_ENV)
DEFAULT_DIR = Path("var/evidence")
DEFAULT_PREFIX = "evidence"
_CHUNK = 1024 * 1024


class EvidenceStoreError(ConfigError):
    """The evidence store's settings are incomplete or its bucket cannot be reached (each problem names
    the variable; never a credential's value). A ConfigError: the CLI exits 2 without a traceback."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


class EvidenceStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store the bytes (once per content); their SHA-256 (hex), which is also their name."""

    def read(self, sha256: str) -> bytes:
        """The stored bytes; FileNotFoundError when absent."""

    def rehash(self, sha256: str) -> str | None:
        """The SHA-256 of what is stored under this name now (None when it is gone)."""


def _valid(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 digest: {sha256!r}")
    return sha256


class DirectoryStore:
    """A directory of files named by their digest (two levels of fan-out)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        d = _valid(sha256)
        return self.root / d[:2] / d[2:4] / d

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists() and self.rehash(digest) == digest:
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".up-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def rehash(self, sha256: str) -> str | None:
        try:
            with self.path(sha256).open("rb") as f:
                h = hashlib.sha256()
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                return h.hexdigest()
        except FileNotFoundError:
            return None


def _status(exc: Exception) -> str:
    """The HTTP status (or S3 error code) of a botocore ClientError, as text."""
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status or response.get("Error", {}).get("Code", ""))


def _absent(exc: Exception) -> bool:
    return _status(exc) in ("404", "NoSuchKey", "NotFound")


class S3Store:
    """One object per digest in an S3-compatible bucket: `<prefix>/<aa>/<bb>/<sha256>`.

    `client` is a boto3 S3 client; `S3Store.from_env` builds one from the COMPLAINTS_EVIDENCE_S3_*
    settings and boto3's credential chain and checks the bucket first."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key(self, sha256: str) -> str:
        d = _valid(sha256)
        return "/".join(p for p in (self.prefix, d[:2], d[2:4], d) if p)

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _absent(exc):
                return False
            raise
        return True

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self.put_if_absent(digest, data)
        return digest

    def put_if_absent(self, sha256: str, data: bytes) -> bool:
        """PUT with `If-None-Match: *`: True when written, False when an object was already there (a
        concurrent upload of the same bytes, or anything else: it is never overwritten). Content-MD5
        lets the server refuse bytes damaged on the way."""
        from botocore.exceptions import ClientError

        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data, ContentMD5=md5,
                                   ContentType="application/octet-stream", IfNoneMatch="*")
        except ClientError as exc:
            # 412: it exists; 409 ConditionalRequestConflict: a PUT of the same key is in flight
            if _status(exc) in ("412", "409", "PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def read(self, sha256: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _absent(exc):
                raise FileNotFoundError(f"s3://{self.bucket}/{self.key(sha256)}") from None
            raise
        body = obj["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def rehash(self, sha256: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _absent(exc):
                return None
            raise
        h = hashlib.sha256()
        body = obj["Body"]
        try:
            for chunk in body.iter_chunks(_CHUNK):
                h.update(chunk)
        finally:
            body.close()
        return h.hexdigest()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> S3Store:
        """The store the COMPLAINTS_EVIDENCE_S3_* settings name, its bucket checked with HEAD.

        EvidenceStoreError names the variable when the bucket, a region or credentials are missing,
        the endpoint does not answer, or the bucket does not exist or refuses these credentials."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        bucket = (environ.get(S3_BUCKET_ENV) or "").strip()
        if not bucket:
            raise EvidenceStoreError(f"{S3_BUCKET_ENV}（证据存储桶）未设置：{KIND_ENV}=s3 需要存储桶名称"
                                     f"（the S3 evidence store needs a bucket）")
        endpoint = (environ.get(S3_ENDPOINT_ENV) or "").strip() or None
        prefix = environ.get(S3_PREFIX_ENV, DEFAULT_PREFIX)
        session = boto3.session.Session(region_name=(environ.get(S3_REGION_ENV) or "").strip() or None)
        if session.region_name is None:
            raise EvidenceStoreError(f"{S3_REGION_ENV}（证据存储区域）未设置，boto3 也未配置区域（AWS_DEFAULT_REGION）"
                                     f"（the S3 evidence store needs a region）")
        if session.get_credentials() is None:
            raise EvidenceStoreError("证据存储没有可用的 S3 凭据：请设置 AWS_ACCESS_KEY_ID 和 AWS_SECRET_ACCESS_KEY，"
                                     "或 AWS_PROFILE，或为主机配置角色（no S3 credentials in boto3's chain）")
        where = f"{S3_ENDPOINT_ENV}={endpoint}" if endpoint else f"AWS S3（{S3_ENDPOINT_ENV} 未设置）"
        config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required")
        try:
            client = session.client("s3", endpoint_url=endpoint, config=config)
            client.head_bucket(Bucket=bucket)
        except ValueError as exc:  # a malformed endpoint URL
            raise EvidenceStoreError(f"{S3_ENDPOINT_ENV}（证据存储地址）无效：{exc}") from None
        except EndpointConnectionError:
            raise EvidenceStoreError(f"证据存储无法连接：{where}（the S3 endpoint does not answer）") from None
        except ClientError as exc:
            status = _status(exc)
            if status in ("404", "NoSuchBucket", "NotFound"):
                problem = f"存储桶 {bucket} 不存在（{S3_BUCKET_ENV}，{where}）（no such bucket）"
            elif status in ("403", "AccessDenied"):
                problem = (f"存储桶 {bucket}（{S3_BUCKET_ENV}）拒绝了这组凭据（AWS_ACCESS_KEY_ID 或 boto3 的凭据链）"
                           f"（access denied）")
            else:
                problem = f"存储桶 {bucket}（{S3_BUCKET_ENV}，{where}）无法访问：HTTP {status}"
            raise EvidenceStoreError(problem) from None
        except BotoCoreError as exc:
            raise EvidenceStoreError(f"证据存储无法访问：{where}：{type(exc).__name__}") from None
        return cls(client, bucket, prefix)


_S3_STORES: dict[str, S3Store] = {}
_S3_LOCK = threading.Lock()
# What boto3 reads from the process's environment besides our settings; with them, a store's identity
# (hashed into the cache key, never kept as such).
_AWS_ENVS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION",
             "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _s3_store(environ: Mapping[str, str]) -> S3Store:
    """One S3Store (client, checked bucket) per setting, made at the first call: the web app and the
    CLI call `evidence_store()` per request or command without a HEAD each time."""
    values = [environ.get(k, "") for k in S3_ENVS] + [os.environ.get(k, "") for k in _AWS_ENVS]
    ident = hashlib.sha256("\0".join(values).encode()).hexdigest()
    with _S3_LOCK:
        store = _S3_STORES.get(ident)
        if store is None:
            store = _S3_STORES[ident] = S3Store.from_env(environ)
        return store


def evidence_store(root: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> EvidenceStore:
    """The configured store: `root` (a directory) if given; else by COMPLAINTS_EVIDENCE_STORE —
    `directory` (the default: COMPLAINTS_EVIDENCE_DIR, else var/evidence relative to the repo) or
    `s3` (COMPLAINTS_EVIDENCE_S3_*). EvidenceStoreError names the variable of a setting that is
    missing, unknown or contradictory, or of a bucket that cannot be reached. `environ` stands for
    the COMPLAINTS_* variables (default os.environ); boto3 reads its AWS_* ones from the process."""
    env = os.environ if environ is None else environ
    if root:
        p = Path(root)
        return DirectoryStore(p if p.is_absolute() else REPO_ROOT / p)
    kind = (env.get(KIND_ENV) or "directory").strip().lower()
    s3_set = [k for k in S3_ENVS if env.get(k)]
    if kind == "s3":
        if env.get(DIR_ENV):
            raise EvidenceStoreError(f"{DIR_ENV} 与 {KIND_ENV}=s3 不能同时设置：证据只存一处"
                                     f"（unset {DIR_ENV} or {KIND_ENV}）")
        return _s3_store(env)
    if kind != "directory":
        raise EvidenceStoreError(f"{KIND_ENV}（证据存储）的值 {kind!r} 无效：应为 directory 或 s3")
    if s3_set:
        raise EvidenceStoreError(f"设置了 {'、'.join(s3_set)}，但 {KIND_ENV} 不是 s3：证据会存到本地目录；"
                                 f"请设置 {KIND_ENV}=s3，或删去这些变量")
    p = Path(env.get(DIR_ENV) or DEFAULT_DIR)
    return DirectoryStore(p if p.is_absolute() else REPO_ROOT / p)
