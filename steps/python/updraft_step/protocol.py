"""Step output protocol v1 (ML-DESIGN.md §1): the rules for metrics.jsonl, params.json and
artifacts.json, as pure functions over plain values. The writer (step.py) and the checker
(`python -m updraft_step check DIR`) share them, so a step cannot write what the checker refuses.

Messages name the file, the line (metrics.jsonl) and the field, and never echo a value longer than a
short excerpt (a value may hold something secret)."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Iterable

from .errors import ProtocolError

RETURN_FILE = "return.json"
METRICS_FILE = "metrics.jsonl"
PARAMS_FILE = "params.json"
ARTIFACTS_FILE = "artifacts.json"
OUTLET_EVENTS_FILE = "outlet_events.json"
#: The most JSON one outlet event's extra may take (the worker's MAX_OUTLET_EXTRA_BYTES).
MAX_OUTLET_EXTRA_BYTES = 64 * 1024

#: MLflow's metric/param name rule.
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/]{1,250}$")
ARTIFACT_TYPES = ("model", "dataset", "report", "other")
FORMAT_RE = re.compile(r"^[a-z0-9][a-z0-9_.+\-]{0,31}$")
#: MLflow caps a param value at 6000 characters.
MAX_PARAM_CHARS = 6000
ARTIFACT_KEYS = {"name", "path", "type", "format", "metadata", "register"}
REGISTER_KEYS = {"model", "signature"}


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ProtocolError(
            f"{where}: invalid name {_excerpt(name)}: expected 1-250 characters of letters, digits, "
            "'_', '-', '.', '/' (MLflow's rule)"
        )
    return name


def check_metric_value(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{where}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ProtocolError(f"{where}: expected a finite number, got {value!r}")
    return value


def check_step(step: Any, where: str) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ProtocolError(f"{where}: expected an integer >= 0, got {_excerpt(step)}")
    return step


def metric_record(name: Any, value: Any, step: Any = 0, timestamp: Any = None, where: str = METRICS_FILE) -> dict:
    """One metrics.jsonl line as a dict, validated."""
    record: dict[str, Any] = {
        "name": check_name(name, f"{where}: field 'name'"),
        "value": check_metric_value(value, f"{where}: field 'value' of metric {name!r}"),
        "step": check_step(step, f"{where}: field 'step' of metric {name!r}"),
    }
    if timestamp is not None:
        if not isinstance(timestamp, str) or not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", timestamp):
            raise ProtocolError(f"{where}: field 'timestamp' of metric {name!r}: expected ISO 8601, got {_excerpt(timestamp)}")
        record["timestamp"] = timestamp
    return record


def check_param(key: Any, value: Any, where: str = PARAMS_FILE) -> None:
    check_name(key, f"{where}: key")
    if isinstance(value, bool) or isinstance(value, str):
        pass
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ProtocolError(f"{where}: param {key!r}: expected a finite number, got {value!r}")
    else:
        raise ProtocolError(
            f"{where}: param {key!r}: expected a string, number or boolean (params are flat), got {type(value).__name__}"
        )
    if isinstance(value, str) and len(value) > MAX_PARAM_CHARS:
        raise ProtocolError(f"{where}: param {key!r}: value has {len(value)} characters, at most {MAX_PARAM_CHARS}")


def check_relative_path(path: Any, out_dir: str, where: str) -> str:
    """The artifact's path: relative to the output folder, inside it, an existing regular file."""
    if not isinstance(path, str) or not path:
        raise ProtocolError(f"{where}.path: expected a relative file path, got {_excerpt(path)}")
    if os.path.isabs(path) or path.startswith("\\"):
        raise ProtocolError(f"{where}.path: {path!r} is absolute; paths are relative to the output folder")
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        raise ProtocolError(f"{where}.path: {path!r} contains '..'; paths must stay inside the output folder")
    full = os.path.join(out_dir, path)
    if os.path.islink(full):
        raise ProtocolError(f"{where}.path: {path!r} is a symbolic link; write the file itself")
    if os.path.isdir(full):
        raise ProtocolError(f"{where}.path: {path!r} is a directory; protocol v1 stores files only (archive it)")
    if not os.path.isfile(full):
        raise ProtocolError(f"{where}.path: {path!r} does not exist in the output folder {out_dir}")
    return path


def _check_signature(sig: Any, where: str) -> None:
    _object_with(sig, {"inputs", "outputs"}, where, 'an object {"inputs": [...], "outputs": [...]}')
    for key in ("inputs", "outputs"):
        if key in sig and not isinstance(sig[key], list):
            raise ProtocolError(f"{where}.{key}: expected a list")


def _object_with(value: Any, allowed: set[str], where: str, shape: str = "an object") -> dict:
    """`value` is a dict holding no keys beyond `allowed`."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected {shape}, got {type(value).__name__}")
    unknown = set(value) - allowed
    if unknown:
        raise ProtocolError(f"{where}: unknown field(s) {sorted(unknown)}; expected {', '.join(sorted(allowed))}")
    return value


def check_artifact(entry: Any, out_dir: str, where: str) -> dict:
    """One ArtifactOut of artifacts.json, validated (its file must exist)."""
    _object_with(entry, ARTIFACT_KEYS, where)
    check_name(entry.get("name"), f"{where}.name")
    check_relative_path(entry.get("path"), out_dir, where)
    if entry.get("type") not in ARTIFACT_TYPES:
        raise ProtocolError(f"{where}.type: expected one of {', '.join(ARTIFACT_TYPES)}, got {_excerpt(entry.get('type'))}")
    if "format" in entry and (not isinstance(entry["format"], str) or not FORMAT_RE.match(entry["format"])):
        raise ProtocolError(f"{where}.format: expected a short lower-case format name like onnx, csv, json, got {_excerpt(entry['format'])}")
    if "metadata" in entry:
        if not isinstance(entry["metadata"], dict):
            raise ProtocolError(f"{where}.metadata: expected an object")
        try:
            json.dumps(entry["metadata"], allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ProtocolError(f"{where}.metadata: not JSON-serializable: {err}") from None
    if "register" in entry:
        reg = _object_with(entry["register"], REGISTER_KEYS, f"{where}.register", 'an object {"model": "<registered model name>"}')
        check_name(reg.get("model"), f"{where}.register.model")
        if "signature" in reg:
            _check_signature(reg["signature"], f"{where}.register.signature")
        if entry.get("type") != "model":
            raise ProtocolError(f"{where}.register: only an artifact of type 'model' registers a model version")
    return entry


def check_artifacts(outputs: Iterable[Any], out_dir: str, where: str = ARTIFACTS_FILE) -> list[dict]:
    seen: set[str] = set()
    result = []
    for i, entry in enumerate(outputs):
        checked = check_artifact(entry, out_dir, f"{where}: outputs[{i}]")
        if checked["name"] in seen:
            raise ProtocolError(f"{where}: outputs[{i}].name: {checked['name']!r} is declared twice")
        seen.add(checked["name"])
        result.append(checked)
    return result


def _load_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise ProtocolError(f"{what}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except UnicodeDecodeError:
        raise ProtocolError(f"{what}: not UTF-8 text") from None


def read_metrics(path: str) -> list[dict]:
    records = []
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"{METRICS_FILE}: not UTF-8 text") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{METRICS_FILE} line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ProtocolError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(obj, dict):
            raise ProtocolError(f"{where}: expected an object {{\"name\": ..., \"value\": ...}}, got {type(obj).__name__}")
        _object_with(obj, {"name", "value", "step", "timestamp"}, where)
        if "name" not in obj or "value" not in obj:
            raise ProtocolError(f"{where}: field {'name' if 'name' not in obj else 'value'!r} is missing")
        records.append(metric_record(obj["name"], obj["value"], obj.get("step", 0), obj.get("timestamp"), where))
    return records


def read_params(path: str) -> dict:
    obj = _load_json(path, PARAMS_FILE)
    if not isinstance(obj, dict):
        raise ProtocolError(f"{PARAMS_FILE}: expected a flat object {{\"name\": value}}, got {type(obj).__name__}")
    for key, value in obj.items():
        check_param(key, value)
    return obj


def read_artifacts(path: str, out_dir: str) -> list[dict]:
    obj = _load_json(path, ARTIFACTS_FILE)
    if not isinstance(obj, dict) or not isinstance(obj.get("outputs"), list):
        raise ProtocolError(f"{ARTIFACTS_FILE}: expected {{\"outputs\": [ ... ]}}")
    _object_with(obj, {"outputs"}, ARTIFACTS_FILE)
    return check_artifacts(obj["outputs"], out_dir)


def check_outlet_extra(uri: Any, extra: Any, where: str = OUTLET_EVENTS_FILE) -> None:
    """One outlet event's extra: a JSON object of at most MAX_OUTLET_EXTRA_BYTES, for a uri string.
    Whether the uri is an outlet of the task only the worker knows (it fails the try if not)."""
    if not isinstance(uri, str) or not uri.strip() or len(uri) > 1500:
        raise ProtocolError(f"{where}: an outlet uri must be a string of 1..1500 characters")
    if not isinstance(extra, dict):
        raise ProtocolError(f"{where}: the extra of an outlet event must be an object, got {type(extra).__name__}")
    try:
        size = len(json.dumps(extra, allow_nan=False).encode())
    except (TypeError, ValueError) as err:
        raise ProtocolError(f"{where}: the extra is not JSON-serializable: {err}") from None
    if size > MAX_OUTLET_EXTRA_BYTES:
        raise ProtocolError(
            f"{where}: the extra is {size} bytes of JSON, at most {MAX_OUTLET_EXTRA_BYTES} "
            "(put large data in an artifact and its uri in the extra)"
        )


def read_outlet_events(path: str) -> dict:
    obj = _load_json(path, OUTLET_EVENTS_FILE)
    if not isinstance(obj, dict):
        raise ProtocolError(f'{OUTLET_EVENTS_FILE}: expected {{"<outlet uri>": {{"extra": {{...}}}}}}, got {type(obj).__name__}')
    for i, (uri, entry) in enumerate(obj.items()):
        where = f"{OUTLET_EVENTS_FILE}: [{i}]"
        if not isinstance(entry, dict) or set(entry) - {"extra"}:
            raise ProtocolError(f'{where}: expected {{"extra": {{...}}}}')
        check_outlet_extra(uri, entry.get("extra", {}), where)
    return obj


def check_output_dir(out_dir: str) -> dict:
    """Reads and validates everything a step left in its output folder, as the worker would."""
    result: dict[str, Any] = {"return": None, "metrics": [], "params": {}, "artifacts": []}
    ret = os.path.join(out_dir, RETURN_FILE)
    if os.path.exists(ret):
        result["return"] = _load_json(ret, RETURN_FILE)
    if os.path.exists(os.path.join(out_dir, METRICS_FILE)):
        result["metrics"] = read_metrics(os.path.join(out_dir, METRICS_FILE))
    if os.path.exists(os.path.join(out_dir, PARAMS_FILE)):
        result["params"] = read_params(os.path.join(out_dir, PARAMS_FILE))
    if os.path.exists(os.path.join(out_dir, ARTIFACTS_FILE)):
        result["artifacts"] = read_artifacts(os.path.join(out_dir, ARTIFACTS_FILE), out_dir)
    if os.path.exists(os.path.join(out_dir, OUTLET_EVENTS_FILE)):
        result["outlet_events"] = read_outlet_events(os.path.join(out_dir, OUTLET_EVENTS_FILE))
    return result
