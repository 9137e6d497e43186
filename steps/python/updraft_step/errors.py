"""The ways a step ends other than success, mapped onto Updraft's process exit codes (docs/tasks.md)."""

#: The step asks to be skipped (Airflow's AirflowSkipException).
SKIP_EXIT_CODE = 99
#: The step fails without retries (AirflowFailException): retrying cannot help.
FAIL_EXIT_CODE = 98


class SkipStep(Exception):
    """Raise to end the try as skipped (exit 99)."""


class FailStep(Exception):
    """Raise to fail the try without retries (exit 98): bad data, a failed check, a broken contract."""


class InputError(FailStep):
    """The task input is malformed: names the field, what was expected and what came."""


class ProtocolError(FailStep):
    """A step output (metrics, params, artifacts, return value) breaks protocol v1: names the file,
    the line where there is one, and the field. A malformed output is a bug in the step, so it is
    not retried."""
