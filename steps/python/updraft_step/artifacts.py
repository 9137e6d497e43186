"""Artifact references in a step's input, and content-addressed keys.

An input ArtifactRef is `{"$artifact": {"sha256", "uri", "name", "type", "format", "size", "path"?}}`
(ML-DESIGN.md §2). The worker materializes the file and adds `path`; a step run by hand may give
`path` alone. An output placeholder `{"$artifact_out": "<name>"}` in return.json stands for the
ArtifactRef the worker records for the output of that name."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

from .errors import FailStep, InputError

REF_KEY = "$artifact"
OUT_KEY = "$artifact_out"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and REF_KEY in value


def find_refs(value: Any, where: str = "input") -> Iterator[tuple[str, dict]]:
    """Every ArtifactRef in a JSON value, with a path to it like `input.model` or `input.data[0]`."""
    if is_ref(value):
        yield where, value[REF_KEY]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from find_refs(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from find_refs(item, f"{where}[{i}]")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_key(sha256: str) -> str:
    """Key of an object in the artifact store: `sha256/<first 2 hex>/<full hex>` (ML-DESIGN.md §2)."""
    return f"sha256/{sha256[:2]}/{sha256}"


def _check_ref_body(body: Any, where: str) -> dict:
    if not isinstance(body, dict):
        raise InputError(f"{where}: expected {{\"$artifact\": {{...}}}} with an object inside, got {type(body).__name__}")
    sha = body.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not SHA256_RE.match(sha)):
        raise InputError(f"{where}.$artifact.sha256: expected 64 lower-case hex digits")
    if not any(isinstance(body.get(k), str) and body.get(k) for k in ("path", "uri")):
        raise InputError(
            f"{where}.$artifact: has neither 'path' (the materialized file) nor 'uri'; "
            "the worker adds 'path' — when running by hand, give {\"$artifact\": {\"path\": \"file.csv\"}}"
        )
    return body


def resolve_ref(value: Any, where: str, download_dir: str | None = None, verify: bool = True) -> str:
    """A local file for an ArtifactRef: its `path` when given, else the file of a file:// uri, else
    a download of an s3:// uri (boto3). Verifies the sha256 when the ref names one."""
    if not is_ref(value):
        raise InputError(
            f"{where}: expected an artifact reference {{\"$artifact\": {{\"sha256\": ..., \"uri\": ..., \"path\": ...}}}}, "
            f"got {type(value).__name__ if not isinstance(value, dict) else 'an object with keys ' + str(sorted(value))}"
        )
    body = _check_ref_body(value[REF_KEY], where)
    path = body.get("path")
    uri = body.get("uri")
    if isinstance(path, str) and path:
        if not os.path.isfile(path):
            raise InputError(f"{where}.$artifact.path: {path!r} is not a file (was the artifact materialized for this try?)")
        local = path
    elif uri.startswith("file://"):
        local = unquote(urlparse(uri).path)
        if not os.path.isfile(local):
            raise InputError(f"{where}.$artifact.uri: {uri!r} names no file on this machine")
    elif uri.startswith("s3://"):
        local = _download_s3(uri, body, where, download_dir)
    else:
        raise InputError(f"{where}.$artifact.uri: unsupported scheme in {uri!r}; expected file:// or s3://")
    expected = body.get("sha256")
    if verify and expected:
        actual = sha256_file(local)
        if actual != expected:
            raise FailStep(f"{where}: the file {local} has sha256 {actual}, the reference says {expected}: refusing corrupted input")
    return local


def _download_s3(uri: str, body: dict, where: str, download_dir: str | None) -> str:
    try:
        import boto3  # type: ignore[import-not-found]
    except ImportError:
        raise FailStep(
            f"{where}: {uri} is in an S3 store but boto3 is not installed in this image; "
            "install boto3, or let the worker materialize the file (it adds 'path')"
        ) from None
    parsed = urlparse(uri)
    target_dir = download_dir or tempfile.mkdtemp(prefix="updraft-artifacts-")
    name = body.get("sha256") or os.path.basename(parsed.path)
    local = os.path.join(target_dir, name)
    s3_client(boto3).download_file(parsed.netloc, parsed.path.lstrip("/"), local)
    return local


def s3_client(boto3: Any) -> Any:
    """A client for the configured S3-compatible endpoint (path-style: works with any server)."""
    from botocore.config import Config  # type: ignore[import-not-found]

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("UPDRAFT_S3_ENDPOINT") or None,
        region_name=os.environ.get("AWS_REGION") or "us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def put_in_store(local: str, sha256: str, store: str) -> str:
    """Puts a file into the artifact store by content (same bytes → stored once); returns its uri."""
    parsed = urlparse(store)
    key = store_key(sha256)
    if parsed.scheme == "file":
        root = unquote(parsed.path)
        dest = os.path.join(root, key)
        if not os.path.exists(dest):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".put-")
            os.close(fd)
            shutil.copyfile(local, tmp)
            os.replace(tmp, dest)
        return "file://" + dest
    if parsed.scheme == "s3":
        try:
            import boto3  # type: ignore[import-not-found]
        except ImportError:
            raise FailStep(
                "UPDRAFT_ARTIFACT_STORE is s3:// but boto3 is not installed in this image: "
                "add boto3 to the image, or run the step where the worker reads its output folder"
            ) from None
        bucket = parsed.netloc
        full_key = "/".join(p for p in (parsed.path.strip("/"), key) if p)
        client = s3_client(boto3)
        try:
            client.head_object(Bucket=bucket, Key=full_key)
        except Exception:  # noqa: BLE001 - any miss (404, 403 on missing keys) means: upload
            client.upload_file(local, bucket, full_key)
        return f"s3://{bucket}/{full_key}"
    raise FailStep(f"UPDRAFT_ARTIFACT_STORE: unsupported scheme in {store!r}; expected file:// or s3://")
