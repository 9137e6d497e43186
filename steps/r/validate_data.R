# validate_data — data validation before training (TFDV-style checks, base R statistics).
#
# Input:  {"dataset": <ArtifactRef csv>, "reference": <ArtifactRef json: prepare's reference_stats.json>?,
#          "params": {"label": "target", "min_rows": 50, "max_rows": 1000000, "max_missing_frac": 0.0,
#                     "range_check": "warn", "max_out_of_range_frac": 0.05}}
# Checks: the CSV parses; the label column exists, has no missing values and holds 0/1 (or the
# reference's label values); every other column is numeric (no unparsable values); each column's
# missing fraction <= max_missing_frac (+ the reference's own); min_rows <= rows <= max_rows; with a
# reference: the same columns, and each column's share of values outside the reference's
# [min, max] <= max_out_of_range_frac ("warn": recorded as a warning; "fail": an error; "off").
# Constant columns are warnings.
# Output: validation_report.json (type report, json): {"valid", "rows", "columns", "errors": [...],
#         "warnings": [...], "columns_summary": {...}}; metrics rows, columns, missing_frac_max,
#         out_of_range_frac_max (with a reference), errors, warnings;
#         return {"valid": true, "rows", "columns", "warnings", "report": <ArtifactRef>}.
# Invalid data: the report and metrics are still written, then exit 98 with the errors.

script_dir <- local({
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(arg) == 1) dirname(normalizePath(sub("^--file=", "", arg))) else "."
})
source(file.path(script_dir, "updraft_step.R"))

RANGE_MODES <- c("off", "warn", "fail")

read_reference <- function(path) {
  ref <- tryCatch(fromJSON(path, simplifyVector = FALSE),
                  error = function(e) updraft_fail(sprintf("input.reference: %s is not valid JSON: %s", path, conditionMessage(e))))
  if (!is.list(ref$columns) || is.null(names(ref$columns))) {
    updraft_fail("input.reference: expected reference statistics {\"columns\": {\"<name>\": {\"min\": ..., \"max\": ...}}} (prepare's reference_stats.json)")
  }
  ref
}

validate <- function(data, p, ref) {
  errors <- list()
  warnings <- list()
  add <- function(kind, check, column, message) {
    item <- list(check = check, column = column, message = message)
    if (kind == "error") errors[[length(errors) + 1]] <<- item else warnings[[length(warnings) + 1]] <<- item
  }
  n <- nrow(data)
  label <- p$label
  summary <- list()

  if (n < p$min_rows) add("error", "row_count", NULL, sprintf("%d rows, fewer than min_rows %d", n, p$min_rows))
  if (n > p$max_rows) add("error", "row_count", NULL, sprintf("%d rows, more than max_rows %d", n, p$max_rows))

  if (!(label %in% names(data))) {
    add("error", "schema", label, sprintf("the label column '%s' is missing", label))
  } else {
    y <- data[[label]]
    allowed <- if (!is.null(ref$label_values)) unlist(ref$label_values) else c(0, 1)
    yn <- suppressWarnings(as.numeric(as.character(y)))
    if (any(is.na(y))) add("error", "missing", label, sprintf("%d missing label value(s)", sum(is.na(y))))
    bad <- !is.na(y) & (is.na(yn) | !(yn %in% allowed))
    if (any(bad)) add("error", "domain", label, sprintf("%d label value(s) outside {%s}, e.g. '%s'", sum(bad), paste(allowed, collapse = ", "), as.character(y[bad][1])))
  }

  features <- setdiff(names(data), label)
  if (length(features) == 0) add("error", "schema", NULL, "no feature columns besides the label")
  if (!is.null(ref)) {
    expected <- names(ref$columns)
    missing_cols <- setdiff(expected, features)
    extra_cols <- setdiff(features, expected)
    if (length(missing_cols) > 0) add("error", "schema", NULL, sprintf("column(s) missing vs the reference: %s", paste(head(missing_cols, 5), collapse = ", ")))
    if (length(extra_cols) > 0) add("error", "schema", NULL, sprintf("unexpected column(s) vs the reference: %s", paste(head(extra_cols, 5), collapse = ", ")))
  }

  missing_max <- 0
  oor_max <- 0
  for (col in features) {
    raw <- data[[col]]
    values <- if (is.numeric(raw)) as.numeric(raw) else suppressWarnings(as.numeric(as.character(raw)))
    unparsable <- sum(!is.na(raw) & is.na(values))
    if (unparsable > 0) {
      example <- as.character(raw[!is.na(raw) & is.na(values)][1])
      add("error", "type", col, sprintf("%d value(s) are not numbers, e.g. '%s'", unparsable, substr(example, 1, 20)))
    }
    missing_frac <- if (n > 0) sum(is.na(raw)) / n else 0
    missing_max <- max(missing_max, missing_frac)
    allowed_missing <- p$max_missing_frac + (if (!is.null(ref$columns[[col]]$missing_frac)) ref$columns[[col]]$missing_frac else 0)
    if (missing_frac > allowed_missing) {
      add("error", "missing", col, sprintf("missing fraction %.4f > allowed %.4f", missing_frac, allowed_missing))
    }
    present <- values[!is.na(values)]
    col_summary <- list(missing_frac = missing_frac)
    if (length(present) > 0) {
      col_summary$min <- min(present)
      col_summary$max <- max(present)
      col_summary$mean <- mean(present)
      col_summary$sd <- if (length(present) > 1) sd(present) else 0
      if (length(present) > 1 && col_summary$sd == 0) add("warning", "constant", col, "the column is constant")
    }
    rc <- ref$columns[[col]]
    if (!is.null(rc) && p$range_check != "off" && length(present) > 0) {
      oor <- sum(present < rc$min | present > rc$max) / length(present)
      col_summary$out_of_range_frac <- oor
      oor_max <- max(oor_max, oor)
      if (oor > p$max_out_of_range_frac) {
        add(if (p$range_check == "fail") "error" else "warning", "range", col,
            sprintf("%.1f%% of values outside the reference range [%g, %g] (allowed %.1f%%)", 100 * oor, rc$min, rc$max, 100 * p$max_out_of_range_frac))
      }
    }
    summary[[col]] <- col_summary
  }
  list(errors = errors, warnings = warnings, summary = summary, missing_max = missing_max, oor_max = oor_max,
       features = length(features))
}

main <- function(step) {
  updraft_check_keys(step, c("dataset", "reference"))
  p <- updraft_params(step, list(label = "target", min_rows = 50L, max_rows = 1000000L, max_missing_frac = 0.0,
                                 range_check = "warn", max_out_of_range_frac = 0.05))
  if (!(p$range_check %in% RANGE_MODES)) updraft_fail(sprintf("input.params.range_check: expected one of %s, got '%s'", paste(RANGE_MODES, collapse = ", "), p$range_check))
  if (p$max_missing_frac < 0 || p$max_missing_frac > 1) updraft_fail("input.params.max_missing_frac: expected a number in [0, 1]")
  if (p$max_out_of_range_frac < 0 || p$max_out_of_range_frac > 1) updraft_fail("input.params.max_out_of_range_frac: expected a number in [0, 1]")
  if (p$min_rows < 0 || p$max_rows < p$min_rows) updraft_fail("input.params.min_rows/max_rows: expected 0 <= min_rows <= max_rows")

  path <- updraft_artifact(step, "dataset")
  ref_path <- updraft_artifact(step, "reference", optional = TRUE)
  ref <- if (is.null(ref_path)) NULL else read_reference(ref_path)

  data <- tryCatch(read.csv(path, check.names = FALSE, stringsAsFactors = FALSE, na.strings = c("", "NA")),
                   error = function(e) updraft_fail(sprintf("input.dataset: cannot read %s as CSV: %s", path, conditionMessage(e))))
  result <- validate(data, p, ref)
  valid <- length(result$errors) == 0

  report <- list(valid = valid, rows = nrow(data), columns = ncol(data), label = p$label,
                 reference = !is.null(ref), errors = result$errors, warnings = result$warnings,
                 columns_summary = result$summary)
  writeLines(updraft_to_json(report, pretty = TRUE), file.path(step$out_dir, "validation_report.json"))
  ref_out <- updraft_log_artifact(step, "validation_report", "validation_report.json", "report", format = "json",
                                  metadata = list(kind = "data_validation", valid = valid))
  updraft_log_metric(step, "rows", nrow(data))
  updraft_log_metric(step, "columns", ncol(data))
  updraft_log_metric(step, "missing_frac_max", result$missing_max)
  if (!is.null(ref)) updraft_log_metric(step, "out_of_range_frac_max", result$oor_max)
  updraft_log_metric(step, "errors", length(result$errors))
  updraft_log_metric(step, "warnings", length(result$warnings))
  updraft_log_param(step, "range_check", p$range_check)
  updraft_log_param(step, "max_missing_frac", p$max_missing_frac)
  updraft_log_param(step, "min_rows", p$min_rows)
  updraft_log_param(step, "max_rows", p$max_rows)
  updraft_log_param(step, "r_version", paste(R.version$major, R.version$minor, sep = "."))
  for (w in result$warnings) message("[validate_data] warning: ", if (is.null(w$column)) "" else paste0(w$column, ": "), w$message)
  if (!valid) {
    updraft_finish(step, NULL)
    lines <- vapply(result$errors, function(e) paste0(if (is.null(e$column)) "" else paste0(e$column, ": "), e$message), character(1))
    updraft_fail(sprintf("the data set is invalid (%d error(s)): %s", length(lines), paste(head(lines, 10), collapse = "; ")))
  }
  list(valid = TRUE, rows = nrow(data), columns = ncol(data), warnings = length(result$warnings), report = ref_out)
}

updraft_run(main)
