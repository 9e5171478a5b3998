"""``S3Storage``: an S3-compatible bucket through boto3 (the ``s3`` extra)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from vto.errors import InputNotFound, InvalidInput, Unavailable
from vto.service.storage.base import check_key, check_prefix


class S3Storage:
    """An S3-compatible bucket through boto3 (AWS, MinIO, R2, Ceph, moto …).

    Credentials default to boto3's chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``,
    profiles, instance roles). ``prefix`` is prepended to every key, so several deployments can
    share one bucket. Signatures are always SigV4 with path-style addressing: boto3's defaults
    produce legacy SigV2 presigned URLs and virtual-host names that MinIO setups rarely resolve.
    """

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 prefix: str = "", path_style: bool = True) -> None:
        import boto3
        from botocore.config import Config

        if not bucket:
            raise InvalidInput("S3 storage needs a bucket name")
        if prefix:
            check_prefix(prefix if prefix.endswith("/") else prefix + "/")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            connect_timeout=5, read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, config=config)

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Storage(s3://{self.bucket}/{self.prefix}{where})"

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, exc: Exception, key: str) -> Exception:
        """Map a botocore error onto vto.errors (the one place they are converted)."""
        from botocore.exceptions import ClientError, NoCredentialsError

        where = f"s3://{self.bucket}/{self.prefix}{key}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404", "NotFound"}:
                return InputNotFound(f"no stored object {key!r}")
            if code == "NoSuchBucket":
                return Unavailable(f"S3 bucket {self.bucket!r} does not exist", retry_after_s=30)
            if code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                return Unavailable(f"S3 refused access to {where} ({code})", retry_after_s=30)
            return Unavailable(f"S3 error on {where}: {code or exc}", retry_after_s=10)
        if isinstance(exc, NoCredentialsError):
            return Unavailable("no S3 credentials configured (set AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY)", retry_after_s=30)
        return Unavailable(f"cannot reach S3 for {where}: {exc}", retry_after_s=10)

    def _call(self, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call(key, self._client.put_object, Bucket=self.bucket, Key=self._full(key),
                   Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        response = self._call(key, self._client.get_object, Bucket=self.bucket,
                              Key=self._full(key))
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._call(key, self._client.head_object, Bucket=self.bucket, Key=self._full(key))
        except InputNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call(key, self._client.delete_object, Bucket=self.bucket, Key=self._full(key))

    def delete_prefix(self, prefix: str) -> int:
        keys = [key for key, _ in self.list_keys(prefix)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": self.prefix + k} for k in keys[start:start + 1000]]
            self._call(prefix, self._client.delete_objects, Bucket=self.bucket,
                       Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def url(self, key: str, expires_s: int) -> str | None:
        return self._call(key, self._client.generate_presigned_url, ClientMethod="get_object",
                          Params={"Bucket": self.bucket, "Key": self._full(key)},
                          ExpiresIn=int(expires_s))

    def list_keys(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        check_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        pages = self._call(prefix, lambda: iter(paginator.paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix)))
        while True:
            page = self._call(prefix, lambda: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix):], item["LastModified"].astimezone(timezone.utc)

    def check(self) -> None:
        """Raise Unavailable unless the bucket exists and we may use it (for /ready)."""
        try:
            self._call("", self._client.head_bucket, Bucket=self.bucket)
        except InputNotFound:  # HEAD answers a bare 404, which _error reads as a missing key
            raise Unavailable(f"S3 bucket {self.bucket!r} does not exist", retry_after_s=30) from None
