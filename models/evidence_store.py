"""Where evidence files' bytes live: content-addressed (the name is the SHA-256 of the bytes).

`EvidenceStore` is the small interface the workbench uses (put, read, rehash). `DirectoryStore`
keeps each file once under `<root>/<aa>/<bb>/<sha256>` (written to a temporary name, then renamed,
read-only); the root is COMPLAINTS_EVIDENCE_DIR, default var/evidence. Several machines share one
store by pointing the variable at a shared mount; an S3-compatible store (an object per digest,
`PUT` if absent, `GET` to rehash) is the extension point: implement the same three methods and
return it from `evidence_store` (docs/casework.md).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from settings.config import REPO_ROOT

DIR_ENV = "COMPLAINTS_EVIDENCE_DIR"
DEFAULT_DIR = Path("var/evidence")
_CHUNK = 1024 * 1024


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


def evidence_store(root: str | Path | None = None) -> EvidenceStore:
    """The configured store: `root`, else COMPLAINTS_EVIDENCE_DIR, else var/evidence (relative to the repo)."""
    p = Path(root) if root else Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)
    return DirectoryStore(p if p.is_absolute() else REPO_ROOT / p)
