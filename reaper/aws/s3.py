"""S3 audit gateway: one JSON object per decision event, at a deterministic key, never overwritten.

IAM: s3:PutObject on the bucket's decisions/ prefix.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from reaper.errors import StoreNotReady

IAM_ACTIONS = ("s3:PutObject",)
PREFIX = "decisions/"


class AuditLog:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, key: str, document: dict[str, Any]) -> bool:
        """Write once. True if written now, False if the object was already there (a retry).

        IfNoneMatch='*' makes a repeated write a harmless 412 instead of an overwrite.
        """
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(document, sort_keys=True, separators=(",", ":")).encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412"):
                return False
            if code == "NoSuchBucket":
                raise StoreNotReady(f"S3 bucket {self.bucket} does not exist: run `python -m reaper init`") from error
            raise
        return True

    def check_bucket(self) -> None:
        """Raise StoreNotReady if the bucket does not exist: a start-up check for `python -m bot`.

        HeadBucket needs s3:ListBucket, which the Lambda role does not grant (nor does the
        Lambda call this); a local caller without it (403) is let through: the first write
        reports a real problem anyway.
        """
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StoreNotReady(f"S3 bucket {self.bucket} does not exist: run `python -m reaper init`") from error
            if code not in ("403", "AccessDenied", "Forbidden"):
                raise

    def ensure_bucket(self, region: str) -> bool:
        """Create the bucket if missing; True when created."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**kwargs)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) != "BucketAlreadyOwnedByYou":
                raise
            return False
        self._client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        return True

    def keys(self, prefix: str = PREFIX) -> list[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def get(self, key: str) -> dict[str, Any]:
        body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        document: dict[str, Any] = json.loads(body)
        return document
