"""``innovation-samples``: write the sample submissions, or run the demo on them.

innovation-samples generate OUT [--seed N]   the deterministic sample submissions and their manifest
innovation-samples demo                      write them to the data folder, then run every DAG on them
innovation-samples directory                 rebuild the synthetic sample district directory
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_generate(args: argparse.Namespace) -> int:
    from innovation_samples import generate

    manifest = generate(Path(args.out), seed=args.seed)
    print(f"wrote {len(manifest['files'])} files to {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from innovation_pipeline import settings
    from innovation_pipeline.demo import run_demo
    from innovation_samples import generate

    samples_dir = settings.data_dir() / "samples"
    print(f"[demo] writing sample submissions to {samples_dir}", flush=True)
    generate(samples_dir)
    return run_demo(samples_dir)


def _cmd_directory(args: argparse.Namespace) -> int:
    from innovation_pipeline.crosswalk import reference_dir
    from innovation_samples.directory import build

    n_districts, n_aliases = build()
    print(f"wrote {n_districts} districts and {n_aliases} aliases to {reference_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``innovation-samples`` argument parser."""
    parser = argparse.ArgumentParser(prog="innovation-samples", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("generate", help="write the deterministic sample submissions")
    p.add_argument("out", help="folder to write them to")
    p.add_argument("--seed", type=int, default=2024, help="random seed (default 2024; same seed, same bytes)")
    p.set_defaults(func=_cmd_generate)
    p = sub.add_parser("demo", help="write the samples to the data folder and run the whole pipeline on them")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("directory", help="rebuild programs/reference/sample_districts.csv and its aliases")
    p.set_defaults(func=_cmd_directory)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``innovation-samples``."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
