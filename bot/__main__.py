"""`python -m bot serve` runs the Slack app; `python -m bot demo` runs it offline."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from bot.errors import ConfigError, QuorumError
from bot.logs import configure_logging

if TYPE_CHECKING:
    from bot.panel import Panel
    from bot.settings import Settings


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        return _demo(args)
    except ConfigError as exc:
        print(f"quorum: {exc}", file=sys.stderr)
        return 2
    except QuorumError as exc:  # e.g. REDIS_URL set but nothing answers there
        print(f"quorum: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the Slack app")
    serve.add_argument(
        "--http", action="store_true", help="serve HTTP even if SLACK_APP_TOKEN is set"
    )
    serve.add_argument("--port", type=_port, help="HTTP port (default: $PORT or 3000)")
    demo = commands.add_parser("demo", help="run one consult offline, end to end")
    demo.add_argument("--question", help="ask this instead of the demo's question")
    demo.add_argument(
        "--tier", choices=["single", "dual", "full"], default="full", help="panel tier"
    )
    return parser


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def _serve(args: argparse.Namespace) -> int:
    from bot.panel import load_panel
    from bot.settings import load_settings

    configure_logging()
    settings = load_settings()
    panel = load_panel(settings.panel_path())
    logging.getLogger("bot").info(
        "panel from %s: %s", panel.source, ", ".join(panel.models)
    )
    http = args.http or not settings.socket_mode
    port = settings.port if args.port is None else args.port
    asyncio.run(_run_app(settings, panel, http=http, port=port))
    return 0


async def _run_app(settings: Settings, panel: Panel, *, http: bool, port: int) -> None:
    from bot.slack.app import build_app, serve_http, serve_socket_mode
    from bot.store import open_store

    store = await open_store(settings.redis_url)
    try:
        app = build_app(settings, panel, store)
        if http:
            await serve_http(
                app, store, panel, port, metrics_enabled=settings.quorum_metrics
            )
        else:
            token = settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
            await serve_socket_mode(app, token)
    finally:
        await store.aclose()


def _demo(args: argparse.Namespace) -> int:
    from bot.sandbox.demo import run_demo

    configure_logging(logging.WARNING)
    return asyncio.run(run_demo(question=args.question, tier=args.tier))


if __name__ == "__main__":
    sys.exit(main())
