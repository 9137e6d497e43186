"""A minimal S3 client on the standard library: HEAD, GET to a file and PUT from a file, signed with
AWS Signature Version 4. Enough for the content-addressed artifact store (docs/step-outputs.md) from
a Kubernetes pod, without boto3 in the image (the helper stays stdlib only, like the R helper, which
signs the same way with curl and digest).

Configuration, as the worker passes it to a step pod (docs/kubernetes.md):
    UPDRAFT_S3_ENDPOINT     an S3-compatible endpoint (http(s)://host[:port]): path-style requests;
                            unset: AWS, https://<bucket>.s3.<region>.amazonaws.com
    AWS_REGION              (or AWS_DEFAULT_REGION) default us-east-1
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional)

A PUT signs the body's SHA-256 (x-amz-content-sha256), and the store's key is that same hash: the
server refuses a body that is not the bytes the key names. Error messages name the bucket and key,
never a credential.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import http.client
import os
import re
import ssl
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Mapping
from urllib.parse import quote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
# Connection errors and 5xx answers are retried this many times (slow-start backoff: 0.5 s, 1 s, 2 s).
_RETRIES = 3


class S3Error(Exception):
    """An S3 request failed: names the operation, bucket and key, the HTTP status and S3's error code."""

    def __init__(self, op: str, bucket: str, key: str, status: int, code: str, message: str):
        self.op, self.bucket, self.key, self.status, self.code = op, bucket, key, status, code
        detail = f"{code}: {message}" if message else code
        super().__init__(f"S3 {op} s3://{bucket}/{key} failed: HTTP {status} {detail}".rstrip())


class S3NotFound(S3Error):
    """The object (or the bucket) does not exist."""


class S3ConfigError(Exception):
    """The step's environment does not say how to reach the store: names the variable."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def uri_encode(value: str, keep_slash: bool) -> str:
    """RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else %XX."""
    return quote(value, safe="-_.~/" if keep_slash else "-_.~")


def sign(
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_sha256: str,
    creds: Credentials,
    region: str,
    now: _dt.datetime,
) -> dict[str, str]:
    """The headers to send (the given ones plus host, x-amz-date, x-amz-content-sha256, the session
    token and Authorization) for a request to `path` (already URI-encoded). Pure: tested against
    AWS's published example."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    out = {k.lower(): v.strip() for k, v in headers.items()}
    out.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256})
    if creds.session_token:
        out["x-amz-security-token"] = creds.session_token
    names = sorted(out)
    canonical_query = "&".join(
        f"{uri_encode(k, False)}={uri_encode(v, False)}" for k, v in sorted(query.items())
    )
    canonical = "\n".join(
        [method, path, canonical_query, "".join(f"{n}:{out[n]}\n" for n in names), ";".join(names), payload_sha256]
    )
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(creds.secret_access_key, date, region), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key_id}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _xml_field(body: bytes, name: str) -> str:
    m = re.search(rf"<{name}>([^<]*)</{name}>".encode(), body)
    return m.group(1).decode("utf-8", "replace")[:200] if m else ""


class S3Client:
    def __init__(self, endpoint: str | None, region: str, creds: Credentials, clock: Callable[[], _dt.datetime] | None = None):
        self.region = region
        self.creds = creds
        self._clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        if endpoint:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise S3ConfigError(f"UPDRAFT_S3_ENDPOINT: expected http(s)://host[:port], got {endpoint!r}")
            self._scheme, self._netloc, self._path_style = parts.scheme, parts.netloc, True
        else:
            self._scheme, self._netloc, self._path_style = "https", "", False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "S3Client":
        key_id = env.get("AWS_ACCESS_KEY_ID", "")
        secret = env.get("AWS_SECRET_ACCESS_KEY", "")
        if not key_id or not secret:
            missing = "AWS_ACCESS_KEY_ID" if not key_id else "AWS_SECRET_ACCESS_KEY"
            raise S3ConfigError(
                f"{missing} is not set in the step's environment, and the S3 artifact store needs static keys "
                "(the worker's Kubernetes executor passes its own from a Secret when it has them; otherwise set "
                "them in the task's env from your own Secret)"
            )
        return cls(
            env.get("UPDRAFT_S3_ENDPOINT") or None,
            env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            Credentials(key_id, secret, env.get("AWS_SESSION_TOKEN") or None),
        )

    # --- operations ------------------------------------------------------------------------------

    def head(self, bucket: str, key: str) -> int | None:
        """The object's size, or None when it does not exist."""
        try:
            status, headers, _ = self._request("HEAD", bucket, key, read_body=False)
        except S3NotFound:
            return None
        del status
        return int(headers.get("content-length", "0"))

    def get_to(self, bucket: str, key: str, sink: BinaryIO) -> int:
        """Streams the object into `sink`; returns the byte count."""
        written = 0

        def copy(resp: http.client.HTTPResponse) -> None:
            nonlocal written
            sink.seek(0)
            sink.truncate()
            written = 0
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                sink.write(chunk)
                written += len(chunk)

        self._request("GET", bucket, key, on_body=copy)
        return written

    def put_file(self, bucket: str, key: str, path: str, sha256: str) -> None:
        """Uploads `path`, whose SHA-256 is `sha256` (signed, so the server checks the body)."""
        size = os.path.getsize(path)
        self._request("PUT", bucket, key, body_path=path, body_size=size, payload_sha256=sha256)

    # --- transport -------------------------------------------------------------------------------

    def _target(self, bucket: str, key: str) -> tuple[str, str]:
        encoded_key = uri_encode(key, True)
        if self._path_style:
            return self._netloc, f"/{uri_encode(bucket, False)}/{encoded_key}"
        return f"{bucket}.s3.{self.region}.amazonaws.com", f"/{encoded_key}"

    def _connection(self, host: str) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(host, timeout=_TIMEOUT_S, context=ssl.create_default_context())
        return http.client.HTTPConnection(host, timeout=_TIMEOUT_S)

    def _request(
        self,
        method: str,
        bucket: str,
        key: str,
        read_body: bool = True,
        on_body: Callable[[http.client.HTTPResponse], None] | None = None,
        body_path: str | None = None,
        body_size: int = 0,
        payload_sha256: str = EMPTY_SHA256,
    ) -> tuple[int, dict[str, str], bytes]:
        host, path = self._target(bucket, key)
        op = {"HEAD": "HeadObject", "GET": "GetObject", "PUT": "PutObject"}.get(method, method)
        last_error: Exception | None = None
        for attempt in range(_RETRIES + 1):
            if attempt:
                time.sleep(0.5 * 2 ** (attempt - 1))
            extra = {"content-length": str(body_size)} if method == "PUT" else {}
            headers = sign(method, host, path, {}, extra, payload_sha256, self.creds, self.region, self._clock())
            conn = self._connection(host)
            try:
                if body_path is not None:
                    with open(body_path, "rb") as fh:
                        conn.request(method, path, body=fh, headers=headers, encode_chunked=False)
                        resp = conn.getresponse()
                else:
                    conn.request(method, path, headers=headers)
                    resp = conn.getresponse()
                status = resp.status
                resp_headers = {k.lower(): v for k, v in resp.getheaders()}
                if 200 <= status < 300:
                    if on_body is not None:
                        on_body(resp)
                        return status, resp_headers, b""
                    return status, resp_headers, resp.read() if read_body and method != "HEAD" else b""
                body = resp.read() if method != "HEAD" else b""
                code = _xml_field(body, "Code") or http.client.responses.get(status, "error")
                message = _xml_field(body, "Message")
                if status == 404:
                    raise S3NotFound(op, bucket, key, status, code, message)
                error = S3Error(op, bucket, key, status, code, message)
                if status < 500:
                    raise error
                last_error = error
            except (OSError, http.client.HTTPException) as err:
                # Refused, reset or timed out: the endpoint may be restarting; try again.
                last_error = S3Error(op, bucket, key, 0, type(err).__name__, f"{err} (endpoint {self._scheme}://{host})")
            finally:
                conn.close()
        assert last_error is not None
        raise last_error
