# updraft_step.R — the step side of Updraft's output protocol v1 for R steps (docs/ml-steps.md):
# the same rules as the Python helper steps/python/updraft_step (names, finite values, relative
# artifact paths), base R + jsonlite. Source it, then:
#
#   step <- updraft_step()
#   p <- updraft_params(step, list(min_rows = 50L))
#   csv <- updraft_artifact(step, "dataset")
#   updraft_log_metric(step, "rows", 569)
#   ref <- updraft_log_artifact(step, "report", "report.json", "report", format = "json")
#   updraft_finish(step, list(valid = TRUE, report = ref))    # exit codes: updraft_fail() -> 98
#
# With an s3:// artifact store (a Kubernetes pod: UPDRAFT_ARTIFACT_STORE, UPDRAFT_S3_ENDPOINT,
# AWS_REGION and the AWS_* keys from the executor) inputs are read from and outputs put into the bucket
# with a small SigV4 client on Debian's r-cran-curl and r-cran-digest, loaded only then.
suppressPackageStartupMessages(library(jsonlite))

UPDRAFT_SKIP_EXIT_CODE <- 99L
UPDRAFT_FAIL_EXIT_CODE <- 98L
UPDRAFT_NAME_RE <- "^[A-Za-z0-9_./-]{1,250}$"
UPDRAFT_ARTIFACT_TYPES <- c("model", "dataset", "report", "other")

# A condition the runner turns into exit 98 (fail without retries).
updraft_fail <- function(message) {
  stop(structure(class = c("updraft_fail", "error", "condition"), list(message = message, call = NULL)))
}

updraft_skip <- function(message) {
  stop(structure(class = c("updraft_skip", "error", "condition"), list(message = message, call = NULL)))
}

updraft_to_json <- function(x, pretty = FALSE) {
  as.character(toJSON(x, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = pretty))
}

updraft_read_input <- function() {
  # Unset or empty: the worker leaves the variable out for large inputs; the file has them all.
  env <- Sys.getenv("UPDRAFT_INPUT", unset = "")
  if (nzchar(env)) {
    source <- "$UPDRAFT_INPUT"
    text <- env
  } else {
    source <- Sys.getenv("UPDRAFT_INPUT_FILE", unset = "/updraft/input.json")
    if (!file.exists(source)) {
      updraft_fail(sprintf(paste0("no task input: $UPDRAFT_INPUT is unset and %s does not exist; run the step under ",
                                  "Updraft, or set UPDRAFT_INPUT='{\"params\": {...}}' by hand"), source))
    }
    text <- paste(readLines(source, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
  }
  if (!nzchar(trimws(text))) return(list(input = NULL, source = source))
  parsed <- tryCatch(fromJSON(text, simplifyVector = FALSE),
                     error = function(e) updraft_fail(sprintf("the task input (%s) is not valid JSON: %s", source, conditionMessage(e))))
  list(input = parsed, source = source)
}

updraft_output_dir <- function() {
  for (var in c("UPDRAFT_OUTPUT_DIR", "UPDRAFT_XCOM_DIR")) {
    v <- Sys.getenv(var)
    if (nzchar(v)) return(v)
  }
  rf <- Sys.getenv("UPDRAFT_RETURN_FILE")
  if (nzchar(rf)) return(dirname(rf))
  "/updraft/xcom"
}

updraft_step <- function() {
  got <- updraft_read_input()
  if (!is.null(got$input) && (!is.list(got$input) || (length(got$input) > 0 && is.null(names(got$input))))) {
    updraft_fail(sprintf("the task input (%s) must be a JSON object", got$source))
  }
  flag <- Sys.getenv("UPDRAFT_OUTPUT_MANIFEST")
  manifest <- if (nzchar(flag)) !(flag %in% c("0", "false", "no")) else
    startsWith(Sys.getenv("UPDRAFT_ARTIFACT_STORE"), "s3://") && nzchar(Sys.getenv("KUBERNETES_SERVICE_HOST"))
  if (manifest) {
    store <- Sys.getenv("UPDRAFT_ARTIFACT_STORE")
    # Outputs go into the worker's store: a folder the pod shares with the worker (file://, the test
    # cluster's real node) or a bucket (s3://, any node).
    if (!startsWith(store, "file://") && !startsWith(store, "s3://")) {
      updraft_fail(sprintf(paste0("manifest output (Kubernetes) needs the worker's artifact store: UPDRAFT_ARTIFACT_STORE is '%s', ",
                                  "expected file:///folder (mounted into the pod) or s3://bucket[/prefix]"), store))
    }
    if (startsWith(store, "s3://")) .updraft_s3_config("UPDRAFT_ARTIFACT_STORE")
  }
  out <- updraft_output_dir()
  dir.create(out, recursive = TRUE, showWarnings = FALSE)
  step <- new.env()
  step$input <- if (is.null(got$input)) list() else got$input
  step$source <- got$source
  step$out_dir <- out
  step$manifest <- manifest
  step$params <- list()
  step$artifacts <- list()
  step$outlet_events <- list()
  step
}

updraft_check_keys <- function(step, allowed) {
  unknown <- setdiff(names(step$input), c(allowed, "params"))
  if (length(unknown) > 0) {
    updraft_fail(sprintf("input: unknown key(s) [%s]; this step takes [%s]",
                         paste(unknown, collapse = ", "), paste(c(allowed, "params"), collapse = ", ")))
  }
}

.updraft_type <- function(v) {
  if (is.null(v)) return("null")
  if (is.logical(v) && length(v) == 1) return("boolean")
  if (is.numeric(v) && length(v) == 1) return(if (is.integer(v) || (is.finite(v) && v == round(v) && abs(v) < 2^31)) "integer" else "number")
  if (is.character(v) && length(v) == 1) return("string")
  if (is.list(v)) return(if (is.null(names(v))) "list" else "object")
  class(v)[1]
}

# input$params over $UPDRAFT_STEP_PARAMS over the defaults; unknown names and values of another type
# are errors naming the field. An integer default takes integers; a double default (1.5, or 0.0
# written as 0) takes any number. $UPDRAFT_STEP_PARAMS (a JSON object) is how a DAG hands its run's
# params to a step: task env values are templated, the input is not.
updraft_params <- function(step, defaults) {
  merged <- defaults
  raw <- Sys.getenv("UPDRAFT_STEP_PARAMS", "")
  if (nzchar(trimws(raw))) {
    from_env <- tryCatch(jsonlite::fromJSON(raw, simplifyVector = FALSE),
                         error = function(e) updraft_fail(sprintf("$UPDRAFT_STEP_PARAMS is not valid JSON: %s", conditionMessage(e))))
    merged <- .updraft_merge_params(merged, defaults, from_env, "$UPDRAFT_STEP_PARAMS")
  }
  given <- step$input$params
  if (is.null(given)) given <- list()
  .updraft_merge_params(merged, defaults, given, "input.params")
}

.updraft_merge_params <- function(merged, defaults, given, where) {
  if (!is.list(given) || (length(given) > 0 && is.null(names(given)))) updraft_fail(sprintf("%s: expected an object", where))
  unknown <- setdiff(names(given), names(defaults))
  if (length(unknown) > 0) {
    updraft_fail(sprintf("%s: unknown parameter(s) [%s]; this step takes [%s]", where,
                         paste(unknown, collapse = ", "), paste(sort(names(defaults)), collapse = ", ")))
  }
  for (key in names(given)) {
    value <- given[[key]]
    default <- defaults[[key]]
    if (is.null(value)) { merged[key] <- list(NULL); next }
    want <- if (is.null(default)) NA else if (is.integer(default)) "integer" else if (is.double(default)) "number" else .updraft_type(default)
    got <- .updraft_type(value)
    ok <- is.na(want) || want == got || (want == "number" && got == "integer")
    if (!ok) updraft_fail(sprintf("%s.%s: expected %s, got %s", where, key, want, got))
    merged[[key]] <- if (!is.na(want) && want == "number") as.double(value) else if (!is.na(want) && want == "integer") as.integer(value) else value
  }
  merged
}

updraft_is_ref <- function(value) is.list(value) && identical(names(value), "$artifact") && is.list(value[["$artifact"]])

# Local file of the ArtifactRef at input$<key>; verifies its sha256 when the reference names one.
updraft_artifact <- function(step, key, optional = FALSE) {
  value <- step$input[[key]]
  where <- paste0("input.", key)
  if (is.null(value)) {
    if (optional) return(NULL)
    updraft_fail(sprintf("%s: missing; expected an artifact reference {\"$artifact\": {...}} from an upstream step", where))
  }
  if (!updraft_is_ref(value)) updraft_fail(sprintf("%s: expected an artifact reference {\"$artifact\": {\"sha256\": ..., \"path\": ...}}", where))
  body <- value[["$artifact"]]
  path <- body$path
  if (is.null(path) && is.character(body$uri) && startsWith(body$uri, "file://")) path <- URLdecode(sub("^file://", "", body$uri))
  # A pod's input in an S3 store: downloaded here, hash-checked before it becomes the input file.
  if (is.null(path) && is.character(body$uri) && startsWith(body$uri, "s3://")) return(.updraft_s3_download(body, where))
  if (is.null(path)) updraft_fail(sprintf("%s.$artifact: has no 'path' (the worker adds it) nor a file:// or s3:// 'uri'", where))
  if (!file.exists(path) || dir.exists(path)) updraft_fail(sprintf("%s.$artifact.path: '%s' is not a file (was the artifact materialized for this try?)", where, path))
  if (is.character(body$sha256) && nzchar(Sys.which("sha256sum"))) {
    actual <- strsplit(system2("sha256sum", shQuote(path), stdout = TRUE), " ")[[1]][1]
    if (!identical(actual, body$sha256)) updraft_fail(sprintf("%s: the file %s has sha256 %s, the reference says %s: refusing corrupted input", where, path, actual, body$sha256))
  }
  path
}

updraft_check_name <- function(name, where) {
  if (!is.character(name) || length(name) != 1 || !grepl(UPDRAFT_NAME_RE, name)) {
    updraft_fail(sprintf("%s: invalid name '%s': expected 1-250 characters of letters, digits, '_', '-', '.', '/'", where, paste(name, collapse = ",")))
  }
}

updraft_log_metric <- function(step, name, value, step_index = 0L) {
  updraft_check_name(name, "metrics.jsonl: field 'name'")
  if (!is.numeric(value) || length(value) != 1 || !is.finite(value)) {
    updraft_fail(sprintf("metrics.jsonl: field 'value' of metric '%s': expected a finite number", name))
  }
  if (!is.numeric(step_index) || step_index < 0 || step_index != round(step_index)) updraft_fail(sprintf("metrics.jsonl: field 'step' of metric '%s': expected an integer >= 0", name))
  line <- updraft_to_json(list(name = name, value = value, step = as.integer(step_index)))
  cat(line, "\n", file = file.path(step$out_dir, "metrics.jsonl"), append = TRUE, sep = "")
}

updraft_log_param <- function(step, name, value) {
  updraft_check_name(name, "params.json: key")
  if (!(length(value) == 1 && (is.character(value) || is.logical(value) || (is.numeric(value) && is.finite(value))))) {
    updraft_fail(sprintf("params.json: param '%s': expected a string, number or boolean", name))
  }
  step$params[[name]] <- value
}

updraft_log_artifact <- function(step, name, path, type, format = NULL, metadata = NULL) {
  where <- sprintf("artifacts.json: outputs[%d]", length(step$artifacts))
  updraft_check_name(name, paste0(where, ".name"))
  if (!(type %in% UPDRAFT_ARTIFACT_TYPES)) updraft_fail(sprintf("%s.type: expected one of %s", where, paste(UPDRAFT_ARTIFACT_TYPES, collapse = ", ")))
  parts <- strsplit(path, "/", fixed = TRUE)[[1]]
  if (startsWith(path, "/") || ".." %in% parts) updraft_fail(sprintf("%s.path: '%s' must be relative to the output folder, without '..'", where, path))
  full <- file.path(step$out_dir, path)
  if (dir.exists(full)) updraft_fail(sprintf("%s.path: '%s' is a directory; protocol v1 stores files only", where, path))
  if (!file.exists(full)) updraft_fail(sprintf("%s.path: '%s' does not exist in the output folder", where, path))
  if (any(vapply(step$artifacts, function(a) identical(a$name, name), logical(1)))) updraft_fail(sprintf("%s.name: '%s' is declared twice", where, name))
  entry <- list(name = name, path = path, type = type)
  if (!is.null(format)) entry$format <- format
  if (!is.null(metadata)) entry$metadata <- metadata
  step$artifacts[[length(step$artifacts) + 1]] <- entry
  list(`$artifact_out` = name)
}

# Airflow's outlet_events[asset]$extra: the extra of the asset event the task's outlet `uri` records
# when this try succeeds (a later call for the same uri replaces it). A uri that is not an outlet of
# the task fails the try in the worker.
updraft_outlet_event <- function(step, uri, extra = structure(list(), names = character(0))) {
  if (!is.character(uri) || length(uri) != 1 || !nzchar(trimws(uri)) || nchar(uri) > 1500) {
    updraft_fail("outlet_events.json: an outlet uri must be a string of 1..1500 characters")
  }
  if (!is.list(extra) || (length(extra) > 0 && (is.null(names(extra)) || any(!nzchar(names(extra)))))) {
    updraft_fail("outlet_events.json: the extra of an outlet event must be a named list (a JSON object)")
  }
  size <- nchar(updraft_to_json(extra), type = "bytes")
  if (size > 65536L) {
    updraft_fail(sprintf("outlet_events.json: the extra is %d bytes of JSON, at most 65536 (put large data in an artifact and its uri in the extra)", size))
  }
  if (length(extra) == 0) extra <- structure(list(), names = character(0))
  step$outlet_events[[uri]] <- list(extra = extra)
  invisible(NULL)
}

updraft_finish <- function(step, result = NULL) {
  if (length(step$params) > 0) writeLines(updraft_to_json(step$params), file.path(step$out_dir, "params.json"))
  if (length(step$artifacts) > 0) writeLines(updraft_to_json(list(outputs = step$artifacts)), file.path(step$out_dir, "artifacts.json"))
  if (length(step$outlet_events) > 0) writeLines(updraft_to_json(step$outlet_events), file.path(step$out_dir, "outlet_events.json"))
  if (!is.null(result)) writeLines(updraft_to_json(result), file.path(step$out_dir, "return.json"))
  if (isTRUE(step$manifest)) .updraft_write_manifest(step, result)
  invisible(NULL)
}

.updraft_sha256 <- function(path) {
  if (!nzchar(Sys.which("sha256sum"))) updraft_fail("manifest output needs sha256sum on the PATH (coreutils)")
  strsplit(system2("sha256sum", shQuote(path), stdout = TRUE), " ")[[1]][1]
}

# Puts a file into the local store by content, at the key layout of the worker's store
# (sha256/<first 2 hex>/<full hex>, artifacts/local-store.ts); returns its file:// uri.
.updraft_put_in_store <- function(local, sha, store) {
  if (startsWith(store, "s3://")) return(.updraft_s3_put(local, sha, store))
  root <- URLdecode(sub("^file://", "", store))
  dest <- file.path(root, "sha256", substr(sha, 1, 2), sha)
  if (!file.exists(dest)) {
    dir.create(dirname(dest), recursive = TRUE, showWarnings = FALSE)
    tmp <- tempfile(pattern = ".put-", tmpdir = dirname(dest))
    if (!file.copy(local, tmp)) updraft_fail(sprintf("could not copy %s into the artifact store at %s", local, dirname(dest)))
    if (!file.rename(tmp, dest)) updraft_fail(sprintf("could not move %s to %s in the artifact store", tmp, dest))
  }
  paste0("file://", dest)
}

.updraft_substitute <- function(value, refs) {
  if (is.list(value)) {
    if (identical(names(value), "$artifact_out")) return(refs[[value[["$artifact_out"]]]])
    return(lapply(value, .updraft_substitute, refs = refs))
  }
  value
}

# The termination-message manifest (as the Python helper's Step.manifest): each output put into the
# store, described by sha256, uri and size; the placeholders in the return value become the refs.
.updraft_write_manifest <- function(step, result) {
  store <- Sys.getenv("UPDRAFT_ARTIFACT_STORE")
  refs <- list()
  outputs <- list()
  for (entry in step$artifacts) {
    local <- file.path(step$out_dir, entry$path)
    sha <- .updraft_sha256(local)
    out <- entry[setdiff(names(entry), "path")]
    out$sha256 <- sha
    out$uri <- .updraft_put_in_store(local, sha, store)
    out$size <- file.size(local)
    outputs[[length(outputs) + 1]] <- out
    refs[[entry$name]] <- list(`$artifact` = out[intersect(c("sha256", "uri", "name", "type", "format", "size"), names(out))])
  }
  metrics_file <- file.path(step$out_dir, "metrics.jsonl")
  metrics <- if (file.exists(metrics_file)) lapply(readLines(metrics_file, warn = FALSE), fromJSON, simplifyVector = FALSE) else list()
  manifest <- list(`$updraft_manifest` = 1L, `return` = .updraft_substitute(result, refs), metrics = metrics,
                   params = if (length(step$params) > 0) step$params else structure(list(), names = character(0)),
                   artifacts = outputs)
  if (length(step$outlet_events) > 0) manifest$outlet_events <- step$outlet_events
  text <- updraft_to_json(manifest)
  if (nchar(text, type = "bytes") > 4096L) {
    updraft_fail(sprintf("return.json: the output manifest is %d bytes, over the 4096-byte termination-message limit: log fewer metrics/params and put details into a report artifact", nchar(text, type = "bytes")))
  }
  writeLines(text, file.path(step$out_dir, "return.json"))
}

# --- S3 (the artifact store for pods on any node) ------------------------------------------------
# A SigV4 client on curl and digest, as the Python helper's updraft_step/s3.py: HEAD, GET to a file,
# PUT from a file. A PUT signs the body's SHA-256, which is also its key: the server refuses a body
# that is not the bytes the key names. Messages name bucket and key, never a credential.

.updraft_s3_config <- function(where) {
  for (pkg in c("curl", "digest")) {
    if (!requireNamespace(pkg, quietly = TRUE)) {
      updraft_fail(sprintf(paste0("%s: the artifact store is S3, and the R helper's S3 client needs the R package '%s' ",
                                  "(Debian: apt-get install r-cran-curl r-cran-digest; the updraft/step-r image has both)"), where, pkg))
    }
  }
  key_id <- Sys.getenv("AWS_ACCESS_KEY_ID")
  secret <- Sys.getenv("AWS_SECRET_ACCESS_KEY")
  if (!nzchar(key_id) || !nzchar(secret)) {
    updraft_fail(sprintf(paste0("%s: the artifact store is S3, but %s is not set in the step's environment (the worker's Kubernetes ",
                                "executor passes its own keys from a Secret when it has them; otherwise set them in the task's env from your own Secret)"),
                         where, if (!nzchar(key_id)) "AWS_ACCESS_KEY_ID" else "AWS_SECRET_ACCESS_KEY"))
  }
  endpoint <- sub("/+$", "", Sys.getenv("UPDRAFT_S3_ENDPOINT"))
  if (nzchar(endpoint) && !grepl("^https?://[^/]+$", endpoint)) {
    updraft_fail(sprintf("UPDRAFT_S3_ENDPOINT: expected http(s)://host[:port], got '%s'", endpoint))
  }
  region <- Sys.getenv("AWS_REGION")
  if (!nzchar(region)) region <- Sys.getenv("AWS_DEFAULT_REGION", "us-east-1")
  list(endpoint = endpoint, region = region, key_id = key_id, secret = secret, token = Sys.getenv("AWS_SESSION_TOKEN"))
}

.updraft_uri_encode <- function(x, keep_slash) {
  enc <- curl::curl_escape(x)  # RFC 3986: unreserved characters stay
  if (keep_slash) gsub("%2F", "/", enc, fixed = TRUE) else enc
}

# (bucket, key) of s3://bucket/key.
.updraft_s3_parse <- function(uri, where) {
  rest <- sub("^s3://", "", uri)
  bucket <- sub("/.*$", "", rest)
  key <- if (grepl("/", rest, fixed = TRUE)) sub("^[^/]*/+", "", rest) else ""
  if (!nzchar(bucket)) updraft_fail(sprintf("%s: '%s' names no bucket; expected s3://bucket/key", where, uri))
  list(bucket = bucket, key = key)
}

# The request headers (host, x-amz-date, x-amz-content-sha256, token, Authorization) for a request
# with no query string to `path` (already encoded).
.updraft_s3_sign <- function(method, host, path, headers, payload_sha, cfg, now = Sys.time()) {
  amz_date <- format(now, "%Y%m%dT%H%M%SZ", tz = "UTC")
  date <- substr(amz_date, 1, 8)
  names(headers) <- tolower(names(headers))
  headers[["host"]] <- host
  headers[["x-amz-date"]] <- amz_date
  headers[["x-amz-content-sha256"]] <- payload_sha
  if (nzchar(cfg$token)) headers[["x-amz-security-token"]] <- cfg$token
  signed <- sort(names(headers))
  canonical <- paste(method, path, "", paste0(paste0(signed, ":", trimws(unlist(headers[signed])), "\n"), collapse = ""),
                     paste(signed, collapse = ";"), payload_sha, sep = "\n")
  scope <- paste(date, cfg$region, "s3", "aws4_request", sep = "/")
  to_sign <- paste("AWS4-HMAC-SHA256", amz_date, scope, digest::digest(canonical, "sha256", serialize = FALSE), sep = "\n")
  k <- charToRaw(paste0("AWS4", cfg$secret))
  for (part in c(date, cfg$region, "s3", "aws4_request")) k <- digest::hmac(k, part, "sha256", raw = TRUE)
  headers[["authorization"]] <- sprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                                        cfg$key_id, scope, paste(signed, collapse = ";"), digest::hmac(k, to_sign, "sha256"))
  headers
}

# One request; `dest` receives a GET's body, `body_file` is a PUT's. Returns the status and headers.
# 5xx answers and connection errors are tried again (three times, 0.5 s, 1 s, 2 s apart).
.updraft_s3_request <- function(cfg, method, bucket, key, dest = NULL, body_file = NULL, payload_sha = NULL) {
  if (is.null(payload_sha)) payload_sha <- "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  encoded <- .updraft_uri_encode(key, TRUE)
  if (nzchar(cfg$endpoint)) {
    host <- sub("^https?://", "", cfg$endpoint)
    path <- paste0("/", .updraft_uri_encode(bucket, FALSE), "/", encoded)
    url <- paste0(cfg$endpoint, path)
  } else {
    host <- sprintf("%s.s3.%s.amazonaws.com", bucket, cfg$region)
    path <- paste0("/", encoded)
    url <- paste0("https://", host, path)
  }
  op <- c(HEAD = "HeadObject", GET = "GetObject", PUT = "PutObject")[[method]]
  failure <- NULL
  for (attempt in 0:3) {
    if (attempt > 0) Sys.sleep(0.5 * 2^(attempt - 1))
    extra <- if (method == "PUT") list(`content-length` = as.character(file.size(body_file))) else list()
    headers <- .updraft_s3_sign(method, host, path, extra, payload_sha, cfg)
    h <- curl::new_handle()
    curl::handle_setopt(h, connecttimeout = 30, low_speed_time = 60, low_speed_limit = 1)
    if (method == "HEAD") curl::handle_setopt(h, nobody = TRUE)
    con <- NULL
    if (method == "PUT") {
      con <- file(body_file, "rb")
      curl::handle_setopt(h, upload = TRUE, infilesize_large = file.size(body_file),
                          readfunction = function(n) readBin(con, raw(), n))
      headers[["content-length"]] <- NULL  # curl sends it from infilesize
    }
    curl::handle_setheaders(h, .list = headers)
    res <- tryCatch(if (is.null(dest)) curl::curl_fetch_memory(url, handle = h) else curl::curl_fetch_disk(url, dest, handle = h),
                    error = function(e) e)
    if (!is.null(con)) close(con)
    if (inherits(res, "error")) {
      failure <- list(status = 0L, code = "ConnectionError", message = sprintf("%s (endpoint %s)", conditionMessage(res), sub(path, "", url, fixed = TRUE)))
      next
    }
    status <- res$status_code
    if (status >= 200 && status < 300) return(list(status = status, headers = curl::parse_headers_list(res$headers)))
    body <- if (!is.null(dest)) { if (file.exists(dest)) paste(readLines(dest, warn = FALSE), collapse = "") else "" } else rawToChar(res$content)
    field <- function(name) { m <- regmatches(body, regexec(sprintf("<%s>([^<]*)</%s>", name, name), body))[[1]]; if (length(m) == 2) substr(m[2], 1, 200) else "" }
    failure <- list(status = status, code = if (nzchar(field("Code"))) field("Code") else "error", message = field("Message"))
    if (status < 500) break
  }
  failure$text <- trimws(sprintf("S3 %s s3://%s/%s failed: HTTP %d %s%s", op, bucket, key, failure$status, failure$code,
                                 if (nzchar(failure$message)) paste0(": ", failure$message) else ""))
  structure(failure, class = "updraft_s3_failure")
}

.updraft_s3_download <- function(body, where) {
  cfg <- .updraft_s3_config(where)
  loc <- .updraft_s3_parse(body$uri, paste0(where, ".$artifact.uri"))
  dir <- tempfile("updraft-artifacts-")
  dir.create(dir, recursive = TRUE)
  name <- if (is.character(body$sha256)) body$sha256 else basename(loc$key)
  partial <- file.path(dir, paste0(".", name, ".partial"))
  res <- .updraft_s3_request(cfg, "GET", loc$bucket, loc$key, dest = partial)
  if (inherits(res, "updraft_s3_failure")) {
    unlink(partial)
    if (res$status == 404) {
      updraft_fail(sprintf(paste0("%s: the artifact %s is not in the store: S3 key '%s' in bucket '%s' does not exist (%s); ",
                                  "was it written to another store? check UPDRAFT_ARTIFACT_STORE and UPDRAFT_S3_ENDPOINT"),
                           where, if (is.character(body$name)) body$name else "", loc$key, loc$bucket, body$uri))
    }
    updraft_fail(sprintf("%s: could not read %s: %s", where, body$uri, res$text))
  }
  if (is.character(body$sha256)) {
    actual <- digest::digest(file = partial, algo = "sha256")
    if (!identical(actual, body$sha256)) {
      unlink(partial)
      updraft_fail(sprintf("%s: %s has sha256 %s, the reference says %s: the stored object is corrupt; refusing it as input", where, body$uri, actual, body$sha256))
    }
  }
  local <- file.path(dir, name)
  file.rename(partial, local)
  local
}

# Puts a file into the S3 store by content; same key and size means the same bytes (stored once).
.updraft_s3_put <- function(local, sha, store) {
  cfg <- .updraft_s3_config("UPDRAFT_ARTIFACT_STORE")
  loc <- .updraft_s3_parse(store, "UPDRAFT_ARTIFACT_STORE")
  key <- paste(c(if (nzchar(sub("/+$", "", loc$key))) sub("/+$", "", loc$key), "sha256", substr(sha, 1, 2), sha), collapse = "/")
  uri <- sprintf("s3://%s/%s", loc$bucket, key)
  head <- .updraft_s3_request(cfg, "HEAD", loc$bucket, key)
  if (!inherits(head, "updraft_s3_failure") && identical(as.numeric(head$headers[["content-length"]]), as.numeric(file.size(local)))) {
    message(sprintf("[updraft_step] output sha256 %s at %s (already in the store: stored once)", sha, uri))
    return(uri)
  }
  if (inherits(head, "updraft_s3_failure") && head$status != 404) updraft_fail(sprintf("could not put %s into the artifact store: %s", basename(local), head$text))
  put <- .updraft_s3_request(cfg, "PUT", loc$bucket, key, body_file = local, payload_sha = sha)
  if (inherits(put, "updraft_s3_failure")) updraft_fail(sprintf("could not put %s into the artifact store: %s", basename(local), put$text))
  message(sprintf("[updraft_step] output sha256 %s at %s", sha, uri))
  uri
}

# Runs main(step) and exits as Updraft expects: 0, 99 (updraft_skip), 98 (updraft_fail); any other
# error exits 1 (the try may be retried).
updraft_run <- function(main) {
  status <- tryCatch({
    step <- updraft_step()
    result <- main(step)  # forced here: R's lazy arguments would otherwise run main inside finish
    updraft_finish(step, result)
    0L
  }, updraft_skip = function(e) {
    message("[updraft_step] skipped: ", conditionMessage(e))
    UPDRAFT_SKIP_EXIT_CODE
  }, updraft_fail = function(e) {
    message("[updraft_step] error: ", conditionMessage(e))
    UPDRAFT_FAIL_EXIT_CODE
  }, error = function(e) {
    message("[updraft_step] unexpected error: ", conditionMessage(e))
    1L
  })
  quit(save = "no", status = status)
}
