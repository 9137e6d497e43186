# Tests of validate_data.R and the R protocol helper, end to end: each case writes a CSV and an input
# JSON into a temp folder, runs the step with Rscript as Updraft's process runtime would
# (UPDRAFT_INPUT_FILE, UPDRAFT_XCOM_DIR), and checks the exit code and the files it left.
#   Rscript steps/r/tests/test_validate_data.R      (prints "N passed, N failed"; exit 1 on a failure)
suppressPackageStartupMessages(library(jsonlite))

here <- local({
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  dirname(normalizePath(sub("^--file=", "", arg)))
})
step_script <- normalizePath(file.path(here, "..", "validate_data.R"))
passed <- 0L
failed <- 0L

test <- function(name, body) {
  ok <- tryCatch({ body(); TRUE }, error = function(e) { cat("FAIL:", name, "-", conditionMessage(e), "\n"); FALSE })
  if (ok) { passed <<- passed + 1L; cat("ok:", name, "\n") } else failed <<- failed + 1L
}

expect <- function(cond, what) if (!isTRUE(cond)) stop(what, call. = FALSE)

# A small table like the pipeline's: numeric features, label `target` in {0, 1}.
make_data <- function(n = 80, seed = 1) {
  set.seed(seed)
  data.frame(mean_radius = round(rnorm(n, 14, 3), 4), mean_texture = round(rnorm(n, 19, 4), 4),
             target = rep(c(0L, 1L), length.out = n))
}

reference_for <- function(df) {
  cols <- setdiff(names(df), "target")
  list(version = 1, label = "target", rows = nrow(df), label_values = c(0, 1),
       columns = setNames(lapply(cols, function(c) list(type = "float", missing_frac = 0, min = min(df[[c]]), max = max(df[[c]]))), cols))
}

run_step <- function(df = make_data(), params = NULL, reference = NULL, raw_input = NULL, csv_text = NULL, drop_dataset = FALSE, step_params = "", extra_env = character(0)) {
  dir <- tempfile("validate-")
  dir.create(file.path(dir, "xcom"), recursive = TRUE)
  csv <- file.path(dir, "dataset.csv")
  if (!is.null(csv_text)) writeLines(csv_text, csv) else write.csv(df, csv, row.names = FALSE)
  input <- list()
  if (!drop_dataset) input$dataset <- list(`$artifact` = list(name = "dataset", path = csv))
  if (!is.null(reference)) {
    ref_file <- file.path(dir, "reference_stats.json")
    writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA), ref_file)
    input$reference <- list(`$artifact` = list(name = "reference_stats", path = ref_file))
  }
  if (!is.null(params)) input$params <- params
  input_file <- file.path(dir, "input.json")
  writeLines(if (!is.null(raw_input)) raw_input else as.character(toJSON(input, auto_unbox = TRUE, digits = NA)), input_file)
  out <- file.path(dir, "xcom")
  stderr_file <- file.path(dir, "stderr")
  rc <- system2("Rscript", step_script, stdout = FALSE, stderr = stderr_file,
                env = c(paste0("UPDRAFT_INPUT_FILE=", input_file), paste0("UPDRAFT_XCOM_DIR=", out), "UPDRAFT_INPUT=",
                         paste0("UPDRAFT_STEP_PARAMS=", shQuote(step_params)), extra_env))
  read_json_file <- function(name) { f <- file.path(out, name); if (file.exists(f)) fromJSON(f, simplifyVector = FALSE) else NULL }
  metrics_file <- file.path(out, "metrics.jsonl")
  metrics <- if (file.exists(metrics_file)) lapply(readLines(metrics_file), fromJSON) else list()
  list(rc = rc, stderr = paste(readLines(stderr_file, warn = FALSE), collapse = "\n"), out = out,
       ret = read_json_file("return.json"), params = read_json_file("params.json"),
       artifacts = read_json_file("artifacts.json"), report = read_json_file("validation_report.json"),
       metrics = setNames(lapply(metrics, `[[`, "value"), vapply(metrics, `[[`, "", "name")), metric_lines = metrics)
}

expect_fail <- function(r, text) {
  expect(r$rc == 98, sprintf("expected exit 98, got %s (stderr: %s)", r$rc, r$stderr))
  expect(grepl(text, r$stderr, fixed = TRUE), sprintf("stderr lacks '%s': %s", text, r$stderr))
}

test("valid data without a reference", function() {
  r <- run_step()
  expect(r$rc == 0, paste("exit", r$rc, r$stderr))
  expect(isTRUE(r$ret$valid) && r$ret$rows == 80 && r$ret$columns == 3, "return value")
  expect(identical(r$ret$report, list(`$artifact_out` = "validation_report")), "report placeholder")
  expect(r$metrics$rows == 80 && r$metrics$errors == 0 && r$metrics$missing_frac_max == 0, "metrics")
  expect(is.null(r$metrics$out_of_range_frac_max), "no range metric without a reference")
  a <- r$artifacts$outputs[[1]]
  expect(a$name == "validation_report" && a$path == "validation_report.json" && a$type == "report" && a$format == "json", "artifacts.json")
  expect(file.exists(file.path(r$out, a$path)), "the artifact's file exists")
  expect(r$params$range_check == "warn" && r$params$min_rows == 50, "params.json")
})

test("every metrics line follows protocol v1", function() {
  r <- run_step()
  expect(length(r$metric_lines) == 5, paste("expected 5 metrics lines, got", length(r$metric_lines)))
  for (m in r$metric_lines) {
    expect(grepl("^[A-Za-z0-9_./-]{1,250}$", m$name), paste("metric name", m$name))
    expect(is.numeric(m$value) && is.finite(m$value) && m$step == 0, paste("metric", m$name))
  }
})

test("within the reference's ranges", function() {
  df <- make_data()
  r <- run_step(df, reference = reference_for(df))
  expect(r$rc == 0, r$stderr)
  expect(r$metrics$out_of_range_frac_max == 0, "no value out of range")
})

test("out of range: a warning by default, an error with range_check fail", function() {
  df <- make_data()
  ref <- reference_for(df)
  shifted <- df
  shifted$mean_radius <- shifted$mean_radius + 100
  r <- run_step(shifted, reference = ref)
  expect(r$rc == 0 && r$ret$warnings == 1, paste("warn mode:", r$rc, r$stderr))
  expect(r$report$warnings[[1]]$check == "range" && r$report$warnings[[1]]$column == "mean_radius", "the warning names the column")
  expect(r$metrics$out_of_range_frac_max == 1, "all values out of range")
  expect_fail(run_step(shifted, reference = ref, params = list(range_check = "fail")),
              "mean_radius: 100.0% of values outside the reference range")
  expect(run_step(shifted, reference = ref, params = list(range_check = "off"))$ret$warnings == 0, "off mode")
})

test("a value that is not a number", function() {
  df <- make_data()
  df$mean_texture <- as.character(df$mean_texture)
  df$mean_texture[5] <- "n/a-ish"
  r <- run_step(df)
  expect_fail(r, "mean_texture: 1 value(s) are not numbers, e.g. 'n/a-ish'")
  expect(identical(r$report$valid, FALSE) && r$report$errors[[1]]$check == "type", "the report is written for invalid data too")
  expect(r$metrics$errors == 1, "the errors metric")
})

test("missing values over the allowed fraction", function() {
  df <- make_data()
  df$mean_radius[1:4] <- NA
  expect_fail(run_step(df), "mean_radius: missing fraction 0.0500 > allowed 0.0000")
  expect(run_step(df, params = list(max_missing_frac = 0.1))$rc == 0, "allowed with max_missing_frac 0.1")
})

test("label outside {0, 1} and missing labels", function() {
  df <- make_data()
  df$target[2] <- 7L
  expect_fail(run_step(df), "target: 1 label value(s) outside {0, 1}, e.g. '7'")
  df <- make_data()
  df$target[3] <- NA
  expect_fail(run_step(df), "target: 1 missing label value(s)")
})

test("no label column", function() {
  df <- make_data()
  names(df)[3] <- "label"
  expect_fail(run_step(df), "the label column 'target' is missing")
})

test("row-count bounds", function() {
  expect_fail(run_step(make_data(n = 20)), "20 rows, fewer than min_rows 50")
  expect_fail(run_step(make_data(), params = list(max_rows = 60L)), "80 rows, more than max_rows 60")
})

test("columns must match the reference", function() {
  df <- make_data()
  ref <- reference_for(df)
  ref$columns$mean_area <- list(type = "float", missing_frac = 0, min = 0, max = 1)
  df$extra <- 1
  r <- run_step(df, reference = ref)
  expect_fail(r, "column(s) missing vs the reference: mean_area")
  expect(grepl("unexpected column(s) vs the reference: extra", r$stderr, fixed = TRUE), "the extra column is named")
})

test("constant column is a warning", function() {
  df <- make_data()
  df$mean_texture <- 1
  r <- run_step(df)
  expect(r$rc == 0 && r$report$warnings[[1]]$check == "constant", "constant warning")
})

test("bad params name the field", function() {
  expect_fail(run_step(params = list(min_row = 10L)), "input.params: unknown parameter(s) [min_row]")
  expect_fail(run_step(params = list(min_rows = "ten")), "input.params.min_rows: expected integer, got string")
  expect_fail(run_step(params = list(range_check = "maybe")), "input.params.range_check: expected one of off, warn, fail, got 'maybe'")
  expect_fail(run_step(params = list(max_missing_frac = 2)), "input.params.max_missing_frac: expected a number in [0, 1]")
})

test("params from $UPDRAFT_STEP_PARAMS, under the input's own", function() {
  expect_fail(run_step(make_data(), step_params = '{"max_rows": 60}'), "80 rows, more than max_rows 60")
  expect(run_step(make_data(), step_params = '{"max_rows": 60}', params = list(max_rows = 100L))$rc == 0, "input.params wins")
  expect_fail(run_step(step_params = '{"min_row": 1}'), "$UPDRAFT_STEP_PARAMS: unknown parameter(s) [min_row]")
  expect_fail(run_step(step_params = '{"min_rows": "ten"}'), "$UPDRAFT_STEP_PARAMS.min_rows: expected integer, got string")
  expect_fail(run_step(step_params = "{min_rows"), "$UPDRAFT_STEP_PARAMS is not valid JSON")
})

test("malformed input", function() {
  expect_fail(run_step(raw_input = "{not json"), "is not valid JSON")
  expect_fail(run_step(raw_input = "[1, 2]"), "must be a JSON object")
  expect_fail(run_step(drop_dataset = TRUE), "input.dataset: missing; expected an artifact reference")
  expect_fail(run_step(raw_input = '{"dataset": {"$artifact": {"path": "/nonexistent.csv"}}}'), "input.dataset.$artifact.path: '/nonexistent.csv' is not a file")
  expect_fail(run_step(raw_input = '{"dataset": "data.csv"}'), "input.dataset: expected an artifact reference")
  expect_fail(run_step(raw_input = '{"dataset": {"$artifact": {"path": "/etc/hostname"}}, "extra": 1}'), "input: unknown key(s) [extra]")
})

test("a corrupted input is refused by its sha256", function() {
  dir <- tempfile("sha-")
  dir.create(dir)
  csv <- file.path(dir, "d.csv")
  write.csv(make_data(), csv, row.names = FALSE)
  expect_fail(run_step(raw_input = sprintf('{"dataset": {"$artifact": {"path": "%s", "sha256": "%s"}}}', csv, strrep("0", 64))),
              "refusing corrupted input")
})

test("manifest output (Kubernetes): outputs put into a local store by content, refs in the return value", function() {
  store <- tempfile("store-")
  dir.create(store)
  data_dir <- tempfile("uri-")
  dir.create(data_dir)
  csv <- file.path(data_dir, "d.csv")
  write.csv(make_data(), csv, row.names = FALSE)
  # The input as a pod gets it: a file:// uri, no path.
  r <- run_step(raw_input = sprintf('{"dataset": {"$artifact": {"name": "dataset", "uri": "file://%s"}}}', csv),
                extra_env = c("UPDRAFT_OUTPUT_MANIFEST=1", paste0("UPDRAFT_ARTIFACT_STORE=file://", store)))
  expect(r$rc == 0, paste("exit", r$rc, r$stderr))
  m <- r$ret
  expect(identical(m[["$updraft_manifest"]], 1L), "return.json is the manifest")
  expect(length(m$artifacts) == 1 && m$artifacts[[1]]$name == "validation_report" && is.null(m$artifacts[[1]]$path), "one artifact, no path")
  sha <- m$artifacts[[1]]$sha256
  stored <- file.path(store, "sha256", substr(sha, 1, 2), sha)
  expect(file.exists(stored), paste("the report is in the store at", stored))
  expect(identical(strsplit(system2("sha256sum", shQuote(stored), stdout = TRUE), " ")[[1]][1], sha), "stored bytes match the sha256")
  expect(m$artifacts[[1]]$size == file.size(stored), "size")
  expect(identical(m$artifacts[[1]]$uri, paste0("file://", stored)), "uri names the stored file")
  ref <- m[["return"]]$report[["$artifact"]]
  expect(identical(ref$sha256, sha) && identical(ref$uri, m$artifacts[[1]]$uri) && ref$name == "validation_report", "the placeholder became the ref")
  expect(isTRUE(m[["return"]]$valid), "the rest of the return value is kept")
  expect(m$metrics[[1]]$name == "rows" && m$metrics[[1]]$value == 80, "metrics travel in the manifest")
  expect(m$params$min_rows == 50, "params travel in the manifest")

  expect_fail(run_step(extra_env = c("UPDRAFT_OUTPUT_MANIFEST=1", "UPDRAFT_ARTIFACT_STORE=gs://ml/team")),
              "manifest output (Kubernetes) needs the worker's artifact store: UPDRAFT_ARTIFACT_STORE is 'gs://ml/team'")
  expect_fail(run_step(extra_env = c("UPDRAFT_OUTPUT_MANIFEST=1", "UPDRAFT_ARTIFACT_STORE=s3://ml/team", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")),
              "UPDRAFT_ARTIFACT_STORE: the artifact store is S3, but AWS_ACCESS_KEY_ID is not set in the step's environment")
})

# --- The S3 store (a pod on any node): the helper's SigV4 client against the real test server ---------
# (versitygw: scripts/services/s3.sh start, UPDRAFT_TEST_S3_*). The keys reach the steps through the
# environment (Sys.setenv), never a command line.
source(file.path(here, "..", "updraft_step.R"))
s3_endpoint <- Sys.getenv("UPDRAFT_TEST_S3_ENDPOINT")
if (!nzchar(s3_endpoint)) stop("UPDRAFT_TEST_S3_ENDPOINT is not set: start the test S3 server with `eval \"$(scripts/services/s3.sh start)\"` and run the tests again")
s3_bucket <- Sys.getenv("UPDRAFT_TEST_S3_BUCKET", "updraft-test")
Sys.setenv(UPDRAFT_S3_ENDPOINT = s3_endpoint, AWS_REGION = Sys.getenv("UPDRAFT_TEST_S3_REGION", "us-east-1"),
           AWS_ACCESS_KEY_ID = Sys.getenv("UPDRAFT_TEST_S3_ACCESS_KEY_ID"), AWS_SECRET_ACCESS_KEY = Sys.getenv("UPDRAFT_TEST_S3_SECRET_ACCESS_KEY"))
# Unique per run (not sample(): make_data's set.seed makes R's random numbers the same every run).
s3_store <- sprintf("s3://%s/r-helper-%d-%.0f", s3_bucket, Sys.getpid(), as.numeric(Sys.time()) * 1000)
s3_prefix <- sub(sprintf("^s3://%s/", s3_bucket), "", s3_store)
s3_key <- function(sha) sprintf("%s/sha256/%s/%s", s3_prefix, substr(sha, 1, 2), sha)
s3_size <- function(key) {
  h <- .updraft_s3_request(.updraft_s3_config("test"), "HEAD", s3_bucket, key)
  if (inherits(h, "updraft_s3_failure")) NA else as.numeric(h$headers[["content-length"]])
}
manifest_env <- c("UPDRAFT_OUTPUT_MANIFEST=1", paste0("UPDRAFT_ARTIFACT_STORE=", s3_store))

test("S3: the SigV4 signature of AWS's published example (GET Object)", function() {
  cfg <- list(region = "us-east-1", key_id = "AKIAIOSFODNN7EXAMPLE", secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token = "")
  h <- .updraft_s3_sign("GET", "examplebucket.s3.amazonaws.com", "/test.txt", list(Range = "bytes=0-9"),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", cfg,
                        now = as.POSIXct("2013-05-24 00:00:00", tz = "UTC"))
  expect(identical(h[["authorization"]], paste0("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ",
                                               "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ",
                                               "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")),
         paste("authorization:", h[["authorization"]]))
})

test("S3: manifest output with inputs read from and outputs put into the bucket; the same bytes stored once", function() {
  csv <- tempfile(fileext = ".csv")
  write.csv(make_data(), csv, row.names = FALSE)
  sha_in <- digest::digest(file = csv, algo = "sha256")
  uri_in <- .updraft_put_in_store(csv, sha_in, s3_store)
  expect(identical(uri_in, sprintf("%s/sha256/%s/%s", s3_store, substr(sha_in, 1, 2), sha_in)), paste("input uri", uri_in))
  expect(s3_size(s3_key(sha_in)) == file.size(csv), "the input is in the bucket")
  input <- sprintf('{"dataset": {"$artifact": {"name": "dataset", "sha256": "%s", "uri": "%s"}}}', sha_in, uri_in)
  r <- run_step(raw_input = input, extra_env = manifest_env)
  expect(r$rc == 0, paste("exit", r$rc, r$stderr))
  m <- r$ret
  expect(identical(m[["$updraft_manifest"]], 1L) && length(m$artifacts) == 1, "one artifact in the manifest")
  a <- m$artifacts[[1]]
  expect(identical(a$uri, sprintf("%s/sha256/%s/%s", s3_store, substr(a$sha256, 1, 2), a$sha256)), paste("output uri", a$uri))
  expect(s3_size(s3_key(a$sha256)) == a$size, "the report is in the bucket with its size")
  expect(identical(m[["return"]]$report[["$artifact"]]$uri, a$uri), "the placeholder became the ref")
  expect(grepl(paste("at", a$uri), r$stderr, fixed = TRUE) && !grepl("stored once", r$stderr, fixed = TRUE), paste("first put:", r$stderr))
  expect(!grepl(Sys.getenv("AWS_SECRET_ACCESS_KEY"), r$stderr, fixed = TRUE), "no secret in the log")
  again <- run_step(raw_input = input, extra_env = manifest_env)
  expect(again$rc == 0 && identical(again$ret$artifacts[[1]]$sha256, a$sha256), "the same report again")
  expect(grepl("(already in the store: stored once)", again$stderr, fixed = TRUE), paste("second put:", again$stderr))
})

test("S3: a missing input object fails naming the input field and the key", function() {
  sha <- digest::digest("never written", "sha256", serialize = FALSE)
  uri <- sprintf("%s/sha256/%s/%s", s3_store, substr(sha, 1, 2), sha)
  r <- run_step(raw_input = sprintf('{"dataset": {"$artifact": {"name": "dataset", "sha256": "%s", "uri": "%s"}}}', sha, uri),
                extra_env = manifest_env)
  expect_fail(r, sprintf("input.dataset: the artifact dataset is not in the store: S3 key '%s' in bucket '%s' does not exist", s3_key(sha), s3_bucket))
})

test("S3: a corrupt object is refused; a wrong secret fails with HTTP 403 and is not echoed", function() {
  claimed <- digest::digest("the real bytes", "sha256", serialize = FALSE)
  other <- tempfile()
  writeLines("other bytes", other)
  put <- .updraft_s3_request(.updraft_s3_config("test"), "PUT", s3_bucket, s3_key(claimed), body_file = other,
                             payload_sha = digest::digest(file = other, algo = "sha256"))
  expect(!inherits(put, "updraft_s3_failure"), paste("put:", put$text))
  uri <- sprintf("%s/sha256/%s/%s", s3_store, substr(claimed, 1, 2), claimed)
  expect_fail(run_step(raw_input = sprintf('{"dataset": {"$artifact": {"sha256": "%s", "uri": "%s"}}}', claimed, uri), extra_env = manifest_env),
              sprintf("input.dataset: %s has sha256 %s, the reference says %s: the stored object is corrupt", uri, digest::digest(file = other, algo = "sha256"), claimed))
  secret <- Sys.getenv("AWS_SECRET_ACCESS_KEY")
  Sys.setenv(AWS_SECRET_ACCESS_KEY = "not-the-secret-0123456789")
  on.exit(Sys.setenv(AWS_SECRET_ACCESS_KEY = secret))
  r <- run_step(extra_env = manifest_env)
  expect_fail(r, "could not put validation_report.json into the artifact store: S3 HeadObject")
  expect(grepl("HTTP 403", r$stderr, fixed = TRUE) && !grepl("not-the-secret", r$stderr, fixed = TRUE), paste("stderr:", r$stderr))
})

test("outlet events: outlet_events.json and the manifest carry the extras", function() {
  helper <- normalizePath(file.path(here, "..", "updraft_step.R"))
  env <- new.env()
  sys.source(helper, envir = env)
  out <- tempfile("outlet-")
  step <- new.env()
  step$out_dir <- out
  step$manifest <- FALSE
  step$params <- list()
  step$artifacts <- list()
  step$outlet_events <- list()
  dir.create(out)
  env$updraft_outlet_event(step, "s3://lake/raw", list(rows = 1L))
  env$updraft_outlet_event(step, "s3://lake/raw", list(rows = 2L))
  env$updraft_outlet_event(step, "file:///data/out")
  env$updraft_finish(step, NULL)
  written <- paste(readLines(file.path(out, "outlet_events.json")), collapse = "")
  expect(identical(written, '{"s3://lake/raw":{"extra":{"rows":2}},"file:///data/out":{"extra":{}}}'), paste("outlet_events.json:", written))
  bad <- tryCatch({ env$updraft_outlet_event(step, "", list()); "no error" }, updraft_fail = function(e) conditionMessage(e))
  expect(grepl("outlet uri must be a string", bad), paste("empty uri refused:", bad))
  bad <- tryCatch({ env$updraft_outlet_event(step, "s3://x", list(1, 2)); "no error" }, updraft_fail = function(e) conditionMessage(e))
  expect(grepl("must be a named list", bad), paste("unnamed extra refused:", bad))
})

cat(sprintf("\n%d passed, %d failed\n", passed, failed))
quit(save = "no", status = if (failed > 0) 1L else 0L)
