"""`python -m botkit.testing serve --port N --users FILE`: a fake for manual tries and demos.

With `--port 0` the first line on stdout is `PORT <n>`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from botkit.testing._fake import FakeRocketChat
from botkit.testing._server import serve
from botkit.testing._users_file import load_users_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m botkit.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run a fake Rocket.Chat server on loopback")
    run.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--users", type=Path, help="JSON users file")
    run.add_argument("--version", dest="server_version", default="7.5.0")
    args = parser.parse_args(argv)

    fake = FakeRocketChat(version=args.server_version)
    if args.users is not None:
        load_users_file(fake, args.users)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with serve(fake, host=args.host, port=args.port) as server:
        print(f"PORT {server.port}", flush=True)
        print(f"fake Rocket.Chat {args.server_version} at {server.url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
