"""One S3-compatible bucket (MinIO, AWS S3, Ceph RGW) that every hub's evidence goes to.

Objects are named by the evidence file's path relative to the files root (`evidence/<day>/
<alert_id>.jpg`), the same string a ticket holds, and carry the file's SHA-256 as metadata, so
that "the bucket holds this file" is a checked fact rather than a hope. The client is MinIO's
(`minio`, which speaks plain S3 to any of them). Every method blocks: call it from a worker
thread. Timeouts are short and the client's own retries few: the uploader retries on its own
schedule, and a dead store must not hold a worker thread for minutes.

    ObjectStoreError     anything the store or the network refused (the message says what)
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from alerts.errors import AlertsError

_SHA_KEY = "sha256"
_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})
_CONTENT_TYPES = {".jpg": "image/jpeg", ".mp4": "video/mp4"}


class ObjectStoreError(AlertsError):
    """The object store refused a request or could not be reached."""


class ObjectStore:
    """A bucket at `endpoint` (`http(s)://host:port`), reached with one key pair.

    >>> store = ObjectStore("http://minio:9000", "riverwatch", "key", "secret")  # doctest: +SKIP
    >>> store.ensure_bucket(); store.put("evidence/2026-12-06/ab12cd34.jpg", path, sha)
    """

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"object store endpoint {endpoint!r}: want http(s)://host[:port]")
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(3.0, timeout_s), read=timeout_s),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
            maxsize=8,
        )
        self._client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region,
            http_client=http,
        )
        self.bucket = bucket
        self.where = f"{parts.scheme}://{parts.netloc}/{bucket}"

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (two hubs may race: both succeed)."""
        try:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._error("create the bucket", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._error("reach the bucket", exc) from exc

    def holds(self, key: str, sha256: str) -> bool:
        """Whether the bucket has `key` with this checksum."""
        try:
            stat = self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return False
            raise self._error(f"look up {key}", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._error(f"look up {key}", exc) from exc
        metadata = stat.metadata or {}
        return str(metadata.get(f"x-amz-meta-{_SHA_KEY}", "")) == sha256

    def put(self, key: str, path: Path, sha256: str) -> None:
        """Upload the file at `path` as `key`, its checksum beside it."""
        content_type = _CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream")
        try:
            self._client.fput_object(
                self.bucket, key, str(path), content_type=content_type,
                metadata={_SHA_KEY: sha256},
            )  # fmt: skip
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise self._error(f"upload {key}", exc) from exc

    def fetch(self, key: str, dest: Path) -> bool:
        """Download `key` to `dest` (atomically: a temp file, then a rename); False when the
        bucket has no such object."""
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._client.fget_object(self.bucket, key, str(tmp))
            os.replace(tmp, dest)
        except S3Error as exc:
            if exc.code in _MISSING:
                return False
            raise self._error(f"fetch {key}", exc) from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._error(f"fetch {key}", exc) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _error(self, what: str, exc: BaseException) -> ObjectStoreError:
        detail = exc.code if isinstance(exc, S3Error) else type(exc).__name__
        return ObjectStoreError(f"object store {self.where}: cannot {what}: {detail}: {exc}")
