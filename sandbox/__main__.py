"""``python -m sandbox --port 8800 [--seed 7] [--count 200] [--live-rate 6]``."""

from __future__ import annotations

import argparse

from sandbox.server import run_sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox",
                                     description="Local emulator of the X and Graph APIs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--seed", type=int, default=7, help="seed for generated data")
    parser.add_argument("--count", type=int, default=200, help="items generated at start")
    parser.add_argument("--no-seed", action="store_true", help="start with an empty world")
    parser.add_argument("--live-rate", type=float, default=0.0,
                        help="new items per minute while running (0: none)")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    run_sandbox(args.host, args.port, None if args.no_seed else args.seed, args.live_rate,
                args.count, args.access_log)


if __name__ == "__main__":
    main()
