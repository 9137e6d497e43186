"""The step's side of Updraft's process/container protocol: where the input comes from, where the
outputs go, and how a step ends (exit 0 / 99 skip / 98 fail without retries)."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Callable, Mapping, NoReturn

from . import protocol
from .artifacts import OUT_KEY, find_refs, is_ref, put_in_store, resolve_ref, sha256_file
from .errors import FAIL_EXIT_CODE, SKIP_EXIT_CODE, FailStep, InputError, ProtocolError, SkipStep

DEFAULT_INPUT_FILE = "/updraft/input.json"
DEFAULT_OUTPUT_DIR = "/updraft/xcom"
#: The kubelet keeps at most this many bytes of a termination message.
TERMINATION_MESSAGE_LIMIT = 4096
MANIFEST_KEY = "$updraft_manifest"
# A JSON object of step params under the input's own (see Step.params).
STEP_PARAMS_VAR = "UPDRAFT_STEP_PARAMS"


def read_input(env: Mapping[str, str] = os.environ) -> tuple[Any, str]:
    """The task's input and where it came from: $UPDRAFT_INPUT, else the file $UPDRAFT_INPUT_FILE,
    else /updraft/input.json. Both carry the same JSON; the variable is absent for large inputs."""
    # Unset or empty: the worker leaves the variable out for large inputs; the file has them all.
    if env.get("UPDRAFT_INPUT"):
        source, text = "$UPDRAFT_INPUT", env["UPDRAFT_INPUT"]
    else:
        path = env.get("UPDRAFT_INPUT_FILE") or DEFAULT_INPUT_FILE
        source = path
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise InputError(
                f"no task input: $UPDRAFT_INPUT is unset and {path} does not exist; run the step under "
                "Updraft, or set UPDRAFT_INPUT='{\"params\": {...}}' (or UPDRAFT_INPUT_FILE) by hand"
            ) from None
    try:
        return json.loads(text) if text.strip() else None, source
    except json.JSONDecodeError as err:
        raise InputError(f"the task input ({source}) is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None


def output_dir(env: Mapping[str, str] = os.environ) -> str:
    """$UPDRAFT_OUTPUT_DIR, else $UPDRAFT_XCOM_DIR (processes), else the folder of
    $UPDRAFT_RETURN_FILE, else /updraft/xcom (containers)."""
    for var in ("UPDRAFT_OUTPUT_DIR", "UPDRAFT_XCOM_DIR"):
        if env.get(var):
            return env[var]
    if env.get("UPDRAFT_RETURN_FILE"):
        return os.path.dirname(env["UPDRAFT_RETURN_FILE"])
    return DEFAULT_OUTPUT_DIR


def manifest_mode(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the outputs travel as a termination-message manifest (Kubernetes: the worker cannot
    read a pod's files). $UPDRAFT_OUTPUT_MANIFEST=1/0 decides when set; otherwise a pod (it has
    KUBERNETES_SERVICE_HOST) with an s3:// artifact store uses it."""
    flag = env.get("UPDRAFT_OUTPUT_MANIFEST")
    if flag is not None and flag != "":
        return flag not in ("0", "false", "no")
    return env.get("UPDRAFT_ARTIFACT_STORE", "").startswith("s3://") and bool(env.get("KUBERNETES_SERVICE_HOST"))


def _same_type(default: Any, value: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )


class Step:
    """One try of a step: its input, and the outputs it logs. See updraft_step/__init__.py."""

    def __init__(self, task_input: Any, out_dir: str, env: Mapping[str, str] = os.environ, input_source: str = "input"):
        self.input = task_input
        self.out_dir = out_dir
        self.env = env
        self.input_source = input_source
        self._params: dict[str, Any] = {}
        self._artifacts: list[dict] = []
        self._metrics: list[dict] = []
        self._outlet_events: dict[str, dict] = {}
        os.makedirs(out_dir, exist_ok=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Step":
        task_input, source = read_input(env)
        return cls(task_input, output_dir(env), env, source)

    # --- input ---------------------------------------------------------------------------------

    def _object(self) -> dict:
        if self.input is None:
            return {}
        if not isinstance(self.input, dict):
            raise InputError(f"the task input ({self.input_source}) must be a JSON object, got {_type_name(self.input)}")
        return self.input

    def check_keys(self, allowed: set[str]) -> None:
        """Refuses top-level input keys the step does not know (a typo would silently do nothing)."""
        unknown = sorted(set(self._object()) - allowed - {"params"})
        if unknown:
            raise InputError(
                f"input: unknown key(s) {unknown}; this step takes {sorted(allowed | {'params'})}"
            )

    def params(self, defaults: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
        """`input.params` over `$UPDRAFT_STEP_PARAMS` over the defaults. Unknown names and values of
        another type than the default's are errors naming the field.

        `$UPDRAFT_STEP_PARAMS` (a JSON object) is how a DAG hands its run's params to a step: task
        env values are templated (`'{{ params.fraction | tojson }}'`) while the input is not."""
        merged = dict(defaults)
        raw = self.env.get(STEP_PARAMS_VAR, "")
        if raw.strip():
            try:
                from_env = json.loads(raw)
            except json.JSONDecodeError as err:
                raise InputError(f"${STEP_PARAMS_VAR} is not valid JSON: {err.msg} at column {err.colno}") from None
            self._merge_params(merged, defaults, from_env, f"${STEP_PARAMS_VAR}")
        given = self._object().get("params", {})
        self._merge_params(merged, defaults, {} if given is None else given, "input.params")
        for key in required:
            if merged.get(key) in (None, ""):
                raise InputError(f"input.params.{key}: required")
        return merged

    @staticmethod
    def _merge_params(merged: dict[str, Any], defaults: dict[str, Any], given: Any, where: str) -> None:
        if not isinstance(given, dict):
            raise InputError(f"{where}: expected an object, got {_type_name(given)}")
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise InputError(f"{where}: unknown parameter(s) {unknown}; this step takes {sorted(defaults)}")
        for key, value in given.items():
            default = defaults[key]
            if value is None and default is None:
                continue
            if not _same_type(default, value):
                raise InputError(
                    f"{where}.{key}: expected {_type_name(default)} (default {json.dumps(default)}), got {_type_name(value)} {json.dumps(value)[:40]}"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"{where}.{key}: expected a finite number")
            merged[key] = float(value) if isinstance(default, float) else value

    def has(self, key: str) -> bool:
        return self._object().get(key) is not None

    def artifact(self, key: str) -> str:
        """Local file of the ArtifactRef at `input.<key>` (materialized by the worker)."""
        obj = self._object()
        if key not in obj or obj[key] is None:
            raise InputError(f"input.{key}: missing; expected an artifact reference {{\"$artifact\": {{...}}}} from an upstream step")
        return resolve_ref(obj[key], f"input.{key}", download_dir=None, env=self.env)

    def artifact_ref(self, key: str) -> dict:
        """The body of the ArtifactRef at `input.<key>` (sha256, uri, name, ...)."""
        value = self._object().get(key)
        if not is_ref(value):
            raise InputError(f"input.{key}: expected an artifact reference {{\"$artifact\": {{...}}}}")
        return value["$artifact"]

    def input_refs(self) -> list[tuple[str, dict]]:
        """Every artifact reference in the input: all of them count as consumed by this try."""
        return list(find_refs(self.input))

    # --- outputs -------------------------------------------------------------------------------

    def output_path(self, relative: str) -> str:
        """Where to write an output file (inside the output folder)."""
        full = os.path.join(self.out_dir, relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def log_metric(self, name: str, value: float, step: int = 0, timestamp: str | None = None) -> None:
        record = protocol.metric_record(name, value, step, timestamp)
        self._metrics.append(record)
        # Appended at once: a step that dies half-way still leaves the curve it had.
        with open(os.path.join(self.out_dir, protocol.METRICS_FILE), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, allow_nan=False) + "\n")

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        for name, value in metrics.items():
            self.log_metric(name, value, step)

    def log_param(self, name: str, value: str | int | float | bool) -> None:
        protocol.check_param(name, value)
        if name in self._params and self._params[name] != value:
            raise ProtocolError(f"{protocol.PARAMS_FILE}: param {name!r} logged twice with different values")
        self._params[name] = value

    def log_params(self, params: Mapping[str, Any]) -> None:
        for name, value in params.items():
            self.log_param(name, value)

    def log_artifact(
        self,
        name: str,
        path: str,
        type: str,  # noqa: A002 - the protocol's field name
        format: str | None = None,  # noqa: A002
        metadata: dict | None = None,
        register: dict | None = None,
    ) -> dict:
        """Declares a file in the output folder as an output artifact; returns the placeholder that
        stands for its ArtifactRef in the return value."""
        entry: dict[str, Any] = {"name": name, "path": path, "type": type}
        if format is not None:
            entry["format"] = format
        if metadata is not None:
            entry["metadata"] = metadata
        if register is not None:
            entry["register"] = register
        protocol.check_artifacts([*self._artifacts, entry], self.out_dir)
        self._artifacts.append(entry)
        return {OUT_KEY: name}

    def outlet_event(self, uri: str, extra: Mapping[str, Any]) -> None:
        """Airflow's ``outlet_events[asset].extra = extra``: the extra of the asset event the task's
        outlet ``uri`` records when this try succeeds (a later call for the same uri replaces it).
        A uri that is not an outlet of the task fails the try in the worker."""
        extra = dict(extra)
        protocol.check_outlet_extra(uri, extra)
        self._outlet_events[uri] = {"extra": extra}

    def finish(self, result: Any) -> None:
        """Writes params.json, artifacts.json and return.json, then reads the folder back with the
        worker's rules, so a protocol error fails here, naming the file, not in the worker."""
        if self._params:
            self._write_json(protocol.PARAMS_FILE, self._params)
        if self._artifacts:
            self._write_json(protocol.ARTIFACTS_FILE, {"outputs": self._artifacts})
        if self._outlet_events:
            self._write_json(protocol.OUTLET_EVENTS_FILE, self._outlet_events)
        names = {a["name"] for a in self._artifacts}
        for where, name in _placeholders(result, "return"):
            if name not in names:
                raise ProtocolError(f"{protocol.RETURN_FILE}: {where} refers to output {name!r}, which no log_artifact declared")
        if result is not None:
            self._write_json(protocol.RETURN_FILE, result)
        protocol.check_output_dir(self.out_dir)
        if manifest_mode(self.env):
            self._write_manifest(result)

    def _write_json(self, name: str, value: Any) -> None:
        try:
            text = json.dumps(value, allow_nan=False, sort_keys=False)
        except (TypeError, ValueError) as err:
            raise ProtocolError(f"{name}: the value is not JSON-serializable: {err}") from None
        with open(os.path.join(self.out_dir, name), "w", encoding="utf-8") as fh:
            fh.write(text)

    def manifest(self, result: Any, store: str) -> dict:
        """The termination-message manifest (ML-DESIGN.md §1, Kubernetes): each output put into the
        artifact store by content, then described by sha256 and uri instead of path; placeholders in
        the return value become the ArtifactRefs themselves."""
        refs: dict[str, dict] = {}
        outputs = []
        for entry in self._artifacts:
            local = os.path.join(self.out_dir, entry["path"])
            sha = sha256_file(local)
            uri, created = put_in_store(local, sha, store, self.env)
            # The worker logs each output too; this line is the step's side (no credentials in it).
            print(
                f"[updraft_step] output {entry['name']!r} sha256 {sha} at {uri}"
                + ("" if created else " (already in the store: stored once)"),
                file=sys.stderr,
            )
            out = {k: v for k, v in entry.items() if k != "path"}
            out.update(sha256=sha, uri=uri, size=os.path.getsize(local))
            outputs.append(out)
            refs[entry["name"]] = {"$artifact": {k: out[k] for k in ("sha256", "uri", "name", "type", "format", "size") if k in out}}
        return {
            MANIFEST_KEY: 1,
            "return": _substitute(result, refs),
            "metrics": [{k: v for k, v in m.items() if k != "timestamp"} for m in self._metrics],
            "params": self._params,
            "artifacts": outputs,
            **({"outlet_events": self._outlet_events} if self._outlet_events else {}),
        }

    def _write_manifest(self, result: Any) -> None:
        store = self.env.get("UPDRAFT_ARTIFACT_STORE", "")
        if not store:
            raise FailStep("manifest output needs UPDRAFT_ARTIFACT_STORE (s3://bucket/prefix) to put the artifacts in")
        text = json.dumps(self.manifest(result, store), allow_nan=False, separators=(",", ":"))
        if len(text.encode()) > TERMINATION_MESSAGE_LIMIT:
            raise ProtocolError(
                f"{protocol.RETURN_FILE}: the output manifest is {len(text.encode())} bytes, over the "
                f"{TERMINATION_MESSAGE_LIMIT}-byte termination-message limit: log fewer metrics/params "
                "and put details into a report artifact"
            )
        with open(os.path.join(self.out_dir, protocol.RETURN_FILE), "w", encoding="utf-8") as fh:
            fh.write(text)


def _placeholders(value: Any, where: str):
    if isinstance(value, dict):
        if len(value) == 1 and OUT_KEY in value:
            yield where, value[OUT_KEY]
            return
        for key, item in value.items():
            yield from _placeholders(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _placeholders(item, f"{where}[{i}]")


def _substitute(value: Any, refs: dict[str, dict]) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and OUT_KEY in value:
            return refs[value[OUT_KEY]]
        return {k: _substitute(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, refs) for v in value]
    return value


def run_step(main: Callable[[Step], Any], env: Mapping[str, str] = os.environ) -> NoReturn:
    """Runs `main(step)` and exits as Updraft expects: 0 with the outputs written; 99 on SkipStep;
    98 (no retries) on FailStep, InputError and ProtocolError; any other exception propagates
    (traceback, exit 1: the try may be retried)."""
    try:
        step = Step.from_env(env)
        step.finish(main(step))
    except SkipStep as err:
        print(f"[updraft_step] skipped: {err}", file=sys.stderr)
        sys.exit(SKIP_EXIT_CODE)
    except FailStep as err:
        print(f"[updraft_step] error: {err}", file=sys.stderr)
        sys.exit(FAIL_EXIT_CODE)
    sys.exit(0)
