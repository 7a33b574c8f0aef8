"""S3 audit gateway: one JSON object per decision event, at a deterministic key, never overwritten.

IAM: s3:PutObject on the bucket's decisions/ prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from reaper.aws.clients import translated
from reaper.errors import AwsError, StoreNotReady

IAM_ACTIONS = ("s3:PutObject",)
PREFIX = "decisions/"


class S3AuditLog:
    """reaper.ports.AuditLog on a boto3 S3 client: one object per event, never overwritten."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, key: str, document: Mapping[str, Any]) -> bool:
        """Write once. True if written now, False if the object was already there (a retry).

        IfNoneMatch='*' makes a repeated write a harmless 412 instead of an overwrite.
        """
        try:
            with translated("PutObject"):
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=json.dumps(document, sort_keys=True, separators=(",", ":")).encode(),
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
        except AwsError as error:
            if error.code in ("PreconditionFailed", "412"):
                return False
            if error.code == "NoSuchBucket":
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
            with translated("HeadBucket"):
                self._client.head_bucket(Bucket=self.bucket)
        except AwsError as error:
            if error.code in ("404", "NoSuchBucket", "NotFound"):
                raise StoreNotReady(f"S3 bucket {self.bucket} does not exist: run `python -m reaper init`") from error
            if error.code not in ("403", "AccessDenied", "Forbidden"):
                raise

    def ensure_bucket(self, region: str) -> bool:
        """Create the bucket (versioned) if missing; True when created."""
        try:
            with translated("HeadBucket"):
                self._client.head_bucket(Bucket=self.bucket)
            return False
        except AwsError as error:
            if error.code not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            with translated("CreateBucket"):
                self._client.create_bucket(**kwargs)
        except AwsError as error:
            if error.code != "BucketAlreadyOwnedByYou":
                raise
            return False
        with translated("PutBucketVersioning"):
            self._client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        return True

    def keys(self, prefix: str = PREFIX) -> list[str]:
        with translated("ListObjectsV2"):
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def get(self, key: str) -> dict[str, Any]:
        with translated("GetObject"):
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        document: dict[str, Any] = json.loads(body)
        return document
