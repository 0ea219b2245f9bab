"""`python -m bot serve` runs the Slack app; `python -m bot demo` runs it offline."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.errors import ConfigError
from bot.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        return _demo(args)
    except ConfigError as exc:
        print(f"quorum: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the Slack app")
    serve.add_argument(
        "--http", action="store_true", help="serve HTTP even if SLACK_APP_TOKEN is set"
    )
    serve.add_argument("--port", type=int, help="HTTP port (default: $PORT or 3000)")
    demo = commands.add_parser("demo", help="run one consult offline, end to end")
    demo.add_argument("--question", help="ask this instead of the demo's question")
    demo.add_argument(
        "--tier", choices=["single", "dual", "full"], default="full", help="panel tier"
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    from bot.panel import load_panel
    from bot.settings import load_settings
    from bot.slack.app import build_app, serve_http, serve_socket_mode

    configure_logging()
    settings = load_settings()
    panel = load_panel(settings.quorum_config)
    logging.getLogger("bot").info(
        "panel from %s: %s", panel.source, ", ".join(panel.models)
    )
    app = build_app(settings, panel)
    if settings.socket_mode and not args.http:
        token = settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
        asyncio.run(serve_socket_mode(app, token))
    else:
        asyncio.run(serve_http(app, args.port or settings.port))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import run_demo

    configure_logging(logging.WARNING)
    return asyncio.run(run_demo(question=args.question, tier=args.tier))


if __name__ == "__main__":
    sys.exit(main())
