"""``python -m innovation_pipeline.dq write-suites | report [OUT_DIR] | validate-marts``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m innovation_pipeline.dq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write-suites", help="regenerate expectations/landing/*.json from the contracts")
    report = sub.add_parser("report", help="build the program-officer report")
    report.add_argument("out_dir", nargs="?", type=Path)
    sub.add_parser("validate-marts", help="run the mart suites (exit 1 when a mart fails)")
    args = parser.parse_args(argv)

    if args.command == "write-suites":
        from innovation_pipeline.contracts import load_contracts
        from innovation_pipeline.dq.suites import write_landing_suites

        for path in write_landing_suites(load_contracts()):
            print(path)
    elif args.command == "report":
        from innovation_pipeline.dq import build_report

        print(build_report(args.out_dir))
    else:
        from innovation_pipeline.dq import MartValidationError, validate_marts

        try:
            validate_marts()
        except MartValidationError as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
