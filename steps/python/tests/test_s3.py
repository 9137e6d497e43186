"""The helper's S3 artifact store path (updraft_step.s3, a SigV4 client on the standard library)
against the real S3-compatible test server (versitygw: scripts/services/s3.sh start, UPDRAFT_TEST_S3_*),
and the signer against AWS's published example. Each test writes under its own key prefix."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from conftest import run_script
from updraft_step import FailStep, InputError, resolve_ref, store_key
from updraft_step.artifacts import put_in_store
from updraft_step.s3 import Credentials, S3Client, S3Error, sign


@pytest.fixture(scope="module")
def s3env() -> dict[str, str]:
    endpoint = os.environ.get("UPDRAFT_TEST_S3_ENDPOINT")
    if not endpoint:
        raise RuntimeError(
            "UPDRAFT_TEST_S3_ENDPOINT is not set: start the test S3 server with "
            '`eval "$(scripts/services/s3.sh start)"` and run the tests again'
        )
    return {
        "UPDRAFT_S3_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": os.environ.get("UPDRAFT_TEST_S3_ACCESS_KEY_ID", ""),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("UPDRAFT_TEST_S3_SECRET_ACCESS_KEY", ""),
        "AWS_REGION": os.environ.get("UPDRAFT_TEST_S3_REGION", "us-east-1"),
        "bucket": os.environ.get("UPDRAFT_TEST_S3_BUCKET", "updraft-test"),
    }


@pytest.fixture
def store(s3env) -> str:
    return f"s3://{s3env['bucket']}/py-helper-{uuid.uuid4().hex[:12]}"


def client(s3env) -> S3Client:
    return S3Client.from_env(s3env)


def write(tmp_path: Path, name: str, data: bytes) -> tuple[str, str]:
    f = tmp_path / name
    f.write_bytes(data)
    return str(f), hashlib.sha256(data).hexdigest()


def test_signature_matches_aws_example():
    # "Example: GET Object" of the S3 SigV4 documentation (sig-v4-header-based-auth).
    headers = sign(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        {},
        {"Range": "bytes=0-9"},
        hashlib.sha256(b"").hexdigest(),
        Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        dt.datetime(2013, 5, 24, tzinfo=dt.timezone.utc),
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_put_twice_is_stored_once_and_reads_back(s3env, store, tmp_path):
    local, sha = write(tmp_path, "data.csv", b"a,b\n1,2\n")
    uri, created = put_in_store(local, sha, store, s3env)
    bucket, prefix = store[len("s3://"):].split("/", 1)
    assert uri == f"s3://{bucket}/{prefix}/{store_key(sha)}"
    assert created is True
    # Same bytes from another file: the key exists with that size, nothing is uploaded.
    again, _ = write(tmp_path, "copy.csv", b"a,b\n1,2\n")
    assert put_in_store(again, sha, store, s3env) == (uri, False)
    assert client(s3env).head(bucket, f"{prefix}/{store_key(sha)}") == 8

    # A pod's input: the ref has a uri and no path; the helper downloads and checks it.
    got = resolve_ref({"$artifact": {"sha256": sha, "uri": uri, "name": "data"}}, "input.dataset",
                      download_dir=str(tmp_path / "in"), env=s3env)
    assert Path(got).read_bytes() == b"a,b\n1,2\n"
    assert Path(got).name == sha


def test_missing_object_names_the_input_field_and_key(s3env, store, tmp_path):
    sha = hashlib.sha256(b"never written").hexdigest()
    bucket, prefix = store[len("s3://"):].split("/", 1)
    uri = f"s3://{bucket}/{prefix}/{store_key(sha)}"
    with pytest.raises(InputError) as err:
        resolve_ref({"$artifact": {"sha256": sha, "uri": uri, "name": "model"}}, "input.model",
                    download_dir=str(tmp_path), env=s3env)
    msg = str(err.value)
    assert msg.startswith("input.model: the artifact model is not in the store")
    assert f"S3 key '{prefix}/{store_key(sha)}' in bucket '{bucket}' does not exist" in msg
    assert os.listdir(tmp_path) == [], "no partial file is left behind"


def test_corrupt_object_is_refused(s3env, store, tmp_path):
    bucket, prefix = store[len("s3://"):].split("/", 1)
    claimed = hashlib.sha256(b"the real bytes").hexdigest()
    other, other_sha = write(tmp_path, "other", b"other bytes")
    # Stored under another hash's key (the server checks the body against its signed hash only).
    client(s3env).put_file(bucket, f"{prefix}/{store_key(claimed)}", other, other_sha)
    with pytest.raises(FailStep, match=r"input.data: .* has sha256 [0-9a-f]{64}, the reference says " + claimed):
        resolve_ref({"$artifact": {"sha256": claimed, "uri": f"s3://{bucket}/{prefix}/{store_key(claimed)}"}},
                    "input.data", download_dir=str(tmp_path / "in"), env=s3env)
    assert not (tmp_path / "in" / claimed).exists()


def test_body_that_does_not_match_its_signed_hash_is_refused_by_the_server(s3env, store, tmp_path):
    bucket, prefix = store[len("s3://"):].split("/", 1)
    local, _ = write(tmp_path, "f", b"some bytes")
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(S3Error) as err:
        client(s3env).put_file(bucket, f"{prefix}/{store_key(wrong)}", local, wrong)
    assert err.value.status == 400
    assert client(s3env).head(bucket, f"{prefix}/{store_key(wrong)}") is None


def test_wrong_secret_fails_without_echoing_it(s3env, store, tmp_path):
    local, sha = write(tmp_path, "f", b"x")
    env = {**s3env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-0123456789"}
    with pytest.raises(FailStep) as err:
        put_in_store(local, sha, store, env)
    assert "HTTP 403" in str(err.value)
    assert "not-the-secret" not in str(err.value)


def test_missing_credentials_name_the_variable(s3env, store, tmp_path):
    local, sha = write(tmp_path, "f", b"x")
    env = {k: v for k, v in s3env.items() if k != "AWS_SECRET_ACCESS_KEY"}
    with pytest.raises(FailStep, match="AWS_SECRET_ACCESS_KEY is not set in the step's environment"):
        put_in_store(local, sha, store, env)


def test_steps_in_manifest_mode_through_the_s3_store(s3env, store, tmp_path):
    """extract then prepare as pods run them: outputs put into S3 by the helper, described in the
    manifest; prepare reads its input from the s3:// uri alone. A second extract stores nothing new."""
    env = {k: v for k, v in s3env.items() if k != "bucket"}
    env.update({"UPDRAFT_OUTPUT_MANIFEST": "1", "UPDRAFT_ARTIFACT_STORE": store})

    def manifest(run) -> dict:
        assert run.rc == 0, run.stderr
        return json.loads((run.out / "return.json").read_text())

    first = run_script("extract.py", {"params": {"fraction": 0.6, "seed": 0}}, tmp_path / "extract", env=env)
    m = manifest(first)
    assert m["$updraft_manifest"] == 1
    (dataset,) = m["artifacts"]
    assert dataset["uri"] == f"{store}/{store_key(dataset['sha256'])}"
    assert m["return"]["dataset"]["$artifact"]["uri"] == dataset["uri"]
    assert "at " + dataset["uri"] in first.stderr and "stored once" not in first.stderr
    assert env["AWS_SECRET_ACCESS_KEY"] not in first.stderr

    second = run_script("extract.py", {"params": {"fraction": 0.6, "seed": 0}}, tmp_path / "extract2", env=env)
    assert manifest(second)["artifacts"][0]["sha256"] == dataset["sha256"]
    assert "(already in the store: stored once)" in second.stderr

    ref = m["return"]["dataset"]  # no "path": the pod reads the uri itself
    prep = run_script("prepare.py", {"dataset": ref}, tmp_path / "prepare", env=env)
    pm = manifest(prep)
    assert sorted(a["name"] for a in pm["artifacts"]) == ["reference_stats", "test", "train"]
    bucket = store[len("s3://"):].split("/", 1)[0]
    c = client(s3env)
    for a in pm["artifacts"]:
        assert c.head(bucket, a["uri"][len(f"s3://{bucket}/"):]) == a["size"]
