"""`python -m updraft_step check DIR`: validates a step output folder by protocol v1 and prints
what the worker would record (exit 0), or the first error naming file, line and field (exit 98)."""

import json
import sys

from .errors import FAIL_EXIT_CODE, ProtocolError
from .protocol import check_output_dir


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "check":
        print("usage: python -m updraft_step check <output folder>", file=sys.stderr)
        return 2
    try:
        print(json.dumps(check_output_dir(argv[1]), indent=2))
    except ProtocolError as err:
        print(f"error: {err}", file=sys.stderr)
        return FAIL_EXIT_CODE
    return 0


sys.exit(main(sys.argv[1:]))
