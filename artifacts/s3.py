"""S3-compatible object storage for artifacts (AWS S3, MinIO, Ceph RGW...).

Blobs are objects `<prefix><sha256>` in one bucket. Uploads stream from the
file (boto3's managed transfer: multipart past 8 MiB), downloads stream from
the response body, ranges included. Configured by FLOWDECK_ARTIFACT_S3_*
(docs/configuration.md); credentials may also come from boto3's own chain
(AWS_* variables, an instance role) when the settings leave them empty.

A blob's time is its object's LastModified (the object store's clock, whole
seconds): storing an existing blob again copies the object onto itself,
server-side, which refreshes it for the garbage collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from artifacts.store import Blob, Readable, StoredBlob, StoreError, hash_file

_MISSING = ("404", "NoSuchKey", "NotFound")
# Parts in flight per upload. Over plain HTTP botocore reads each part in
# 1 MiB chunks to checksum and sign it, about 2 MiB a part, so 4 keep an
# upload near 8 MiB of memory however large the file (boto3's default of 10
# held 17 MiB here) while still overlapping the parts' round trips.
_UPLOAD_CONCURRENCY = 4
# CopyObject handles up to 5 GiB in one request; boto3 copies larger blobs in
# parts.
_COPY_IN_ONE = 5 * 1024**3


class S3Store:
    name = "s3"

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", *, probe: Any = None
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        # check() answers a readiness probe: one try, short timeouts.
        self.probe = probe or client

    @classmethod
    def connect(
        cls,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> S3Store:
        import boto3.session
        from botocore.config import Config

        if not bucket:
            raise StoreError("FLOWDECK_ARTIFACT_S3_BUCKET is not set")
        # A session of its own: boto3's default session is not safe to make
        # clients from in several threads at once (web requests, the worker's
        # threads).
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
        )

        def client(**config: Any) -> Any:
            return session.client(
                "s3",
                endpoint_url=endpoint_url,
                # Path-style addressing works with MinIO and any endpoint name.
                config=Config(s3={"addressing_style": "path"}, **config),
            )

        return cls(
            client(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
            bucket,
            prefix,
            probe=client(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=2,
                read_timeout=2,
            ),
        )

    def _key(self, sha256: str) -> str:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise StoreError(f"not an artifact key: {sha256!r}")
        return f"{self.prefix}{sha256}"

    def put_file(self, path: Path) -> Blob:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        blob = hash_file(path)
        if self.size(blob.sha256) == blob.size and self._touch(blob.sha256):
            return blob  # content-addressed: already there
        try:
            self.client.upload_file(
                str(path),
                self.bucket,
                self._key(blob.sha256),
                ExtraArgs={"ContentType": "application/octet-stream"},
                Config=TransferConfig(max_concurrency=_UPLOAD_CONCURRENCY),
            )
        except (BotoCoreError, ClientError) as error:
            raise StoreError(
                f"uploading to s3://{self.bucket} failed: {error}"
            ) from error
        return blob

    def _touch(self, sha256: str) -> bool:
        """Refresh the blob's LastModified (copy it onto itself, server-side);
        False when it is gone (the garbage collector took it meanwhile)."""
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        key = self._key(sha256)
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": key},
                self.bucket,
                key,
                ExtraArgs={
                    # S3 copies an object onto itself only when something changes.
                    "MetadataDirective": "REPLACE",
                    "ContentType": "application/octet-stream",
                },
                Config=TransferConfig(multipart_threshold=_COPY_IN_ONE),
            )
        except ClientError as error:
            if _code(error) in _MISSING:
                return False
            raise StoreError(f"s3://{self.bucket}: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"s3://{self.bucket}: {error}") from error
        return True

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> Readable:
        from botocore.exceptions import BotoCoreError, ClientError

        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(sha256)}
        if start or end is not None:
            last = "" if end is None else str(end - 1)
            arguments["Range"] = f"bytes={start}-{last}"
        try:
            response = self.client.get_object(**arguments)
        except (BotoCoreError, ClientError) as error:
            raise StoreError(
                f"artifact {sha256[:12]} could not be read: {error}"
            ) from error
        body: Readable = response["Body"]
        return body

    def size(self, sha256: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise StoreError(f"s3://{self.bucket}: {error}") from error
        return int(head["ContentLength"])

    def delete(self, sha256: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"s3://{self.bucket}: {error}") from error

    def keys(self) -> Iterator[str]:
        for blob in self.blobs():
            yield blob.sha256

    def blobs(self) -> Iterator[StoredBlob]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", ()):
                    key = item["Key"][len(self.prefix) :]
                    if len(key) == 64 and not key.strip("0123456789abcdef"):
                        yield StoredBlob(key, item["Size"], item["LastModified"])
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"listing s3://{self.bucket} failed: {error}") from error

    def delete_stale(self, sha256: str, before: datetime) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self._key(sha256)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            # S3 has no delete-if-unmodified: a store of the same bytes in the
            # moment between this look and the delete would be lost. The
            # collector only gets here for a blob no row references that has
            # not been stored again for its whole grace period.
            if head["LastModified"] >= before:
                return False
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in _MISSING:
                return False
            raise StoreError(f"s3://{self.bucket}: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"s3://{self.bucket}: {error}") from error
        return True

    def check(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.probe.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            code = _code(error)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return f"bucket {self.bucket!r} does not exist"
            return f"bucket {self.bucket!r}: {code or error}"
        except BotoCoreError as error:
            return f"cannot reach the object store: {error}"
        return None


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
