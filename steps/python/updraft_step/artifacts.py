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
from typing import Any, Iterator, Mapping
from urllib.parse import unquote, urlparse

from .errors import FailStep, InputError
from .s3 import S3Client, S3ConfigError, S3Error, S3NotFound

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


def resolve_ref(
    value: Any, where: str, download_dir: str | None = None, verify: bool = True, env: Mapping[str, str] = os.environ
) -> str:
    """A local file for an ArtifactRef: its `path` when given, else the file of a file:// uri, else
    a download of an s3:// uri (updraft_step.s3, with the store's settings from `env`). Verifies the
    sha256 when the ref names one."""
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
        # Checked against the ref's sha256 before the file appears: no second read here.
        return _download_s3(uri, body, where, download_dir, env)
    else:
        raise InputError(f"{where}.$artifact.uri: unsupported scheme in {uri!r}; expected file:// or s3://")
    expected = body.get("sha256")
    if verify and expected:
        actual = sha256_file(local)
        if actual != expected:
            raise FailStep(f"{where}: the file {local} has sha256 {actual}, the reference says {expected}: refusing corrupted input")
    return local


def parse_s3_uri(uri: str, where: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`."""
    parsed = urlparse(uri)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InputError(f"{where}: {uri!r} is not an s3://bucket/key uri")
    return parsed.netloc, key


def _s3_client(where: str, env: Mapping[str, str]) -> S3Client:
    try:
        return S3Client.from_env(env)
    except S3ConfigError as err:
        raise FailStep(f"{where}: the artifact store is S3, but {err}") from None


def _download_s3(uri: str, body: dict, where: str, download_dir: str | None, env: Mapping[str, str]) -> str:
    """Downloads the object of an s3:// ref into `download_dir` (hash-checked while written when the
    ref names its sha256: a corrupt object never becomes the step's input file)."""
    bucket, key = parse_s3_uri(uri, f"{where}.$artifact.uri")
    client = _s3_client(where, env)
    target_dir = download_dir or tempfile.mkdtemp(prefix="updraft-artifacts-")
    os.makedirs(target_dir, exist_ok=True)
    name = body.get("sha256") or os.path.basename(key) or "artifact"
    local = os.path.join(target_dir, name)
    fd, partial = tempfile.mkstemp(dir=target_dir, prefix=f".{name[:16]}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as fh:
            client.get_to(bucket, key, fh)
        expected = body.get("sha256")
        if expected:
            actual = sha256_file(partial)
            if actual != expected:
                raise FailStep(
                    f"{where}: s3://{bucket}/{key} has sha256 {actual}, the reference says {expected}: the stored "
                    "object is corrupt; refusing it as input"
                )
        os.replace(partial, local)
    except S3NotFound:
        raise InputError(
            f"{where}: the artifact {body.get('name') or ''!s} is not in the store: S3 key {key!r} in bucket "
            f"{bucket!r} does not exist ({uri}); was it written to another store? check UPDRAFT_ARTIFACT_STORE "
            "and UPDRAFT_S3_ENDPOINT"
        ) from None
    except S3Error as err:
        raise FailStep(f"{where}: could not read {uri}: {err}") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return local


def put_in_store(local: str, sha256: str, store: str, env: Mapping[str, str] = os.environ) -> tuple[str, bool]:
    """Puts a file into the artifact store by content; returns its uri and whether it was written
    (False: the same bytes were there already, stored once)."""
    parsed = urlparse(store)
    key = store_key(sha256)
    if parsed.scheme == "file":
        root = unquote(parsed.path)
        dest = os.path.join(root, key)
        if os.path.exists(dest):
            return "file://" + dest, False
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".put-")
        os.close(fd)
        shutil.copyfile(local, tmp)
        os.replace(tmp, dest)
        return "file://" + dest, True
    if parsed.scheme == "s3":
        bucket = parsed.netloc
        if not bucket:
            raise FailStep(f"UPDRAFT_ARTIFACT_STORE: {store!r} names no bucket; expected s3://bucket[/prefix]")
        full_key = "/".join(p for p in (parsed.path.strip("/"), key) if p)
        uri = f"s3://{bucket}/{full_key}"
        client = _s3_client("UPDRAFT_ARTIFACT_STORE", env)
        try:
            # Same key and size: the same bytes (the key is their hash), as the worker's store decides.
            if client.head(bucket, full_key) == os.path.getsize(local):
                return uri, False
            client.put_file(bucket, full_key, local, sha256)
        except S3Error as err:
            raise FailStep(f"could not put {os.path.basename(local)} into the artifact store: {err}") from None
        return uri, True
    raise FailStep(f"UPDRAFT_ARTIFACT_STORE: unsupported scheme in {store!r}; expected file:// or s3://")
