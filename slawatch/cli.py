"""`slawatch SUBCOMMAND`: parses the command line and hands over to the agent or the collector.

Only this package knows both sides; each subcommand imports its side lazily so that an agent host
never loads the collector's code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import disable_created_metrics

from slawatch import __version__
from slawatch.logs import LOG_FORMATS, configure_logging

if TYPE_CHECKING:
    from slawatch.config.schema import Config

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""Ctrl-C outside a long-running command (which stops cleanly with 0): 128 + SIGINT."""

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    configure_logging(level=args.log_level, log_format=args.log_format)
    disable_created_metrics()
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slawatch", description="SLA follow-up: probe, collect, decide, alert, report."
    )
    parser.add_argument("--version", action="version", version=f"slawatch {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        default="auto",
        choices=LOG_FORMATS,
        help="console: readable lines; json: one JSON object per line; auto (default): "
        "console on a terminal, json otherwise",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    agent = commands.add_parser(
        "agent",
        help="probe checks, spool samples, push to the collector",
        description="Run an agent from a config file (--config), or with no file at all "
        "(--collector, --id, --token-file: its checks come from the collector).",
    )
    agent.add_argument("--config", type=Path, metavar="FILE")
    agent.add_argument(
        "--replay-dead",
        action="store_true",
        help="put the spool's dead letters back in the queue, then run",
    )
    zero = agent.add_argument_group("without a config file")
    zero.add_argument(
        "--collector",
        action="append",
        metavar="URL",
        help="the collector's URL; repeat it for several (failover in order)",
    )
    zero.add_argument("--id", dest="agent_id", metavar="ID", help="this agent's id")
    zero.add_argument(
        "--token-file", type=Path, metavar="FILE", help="a file holding the agent's token"
    )
    zero.add_argument("--spool", metavar="FILE", help="default $STATE_DIRECTORY or ./data")
    zero.add_argument(
        "--label", action="append", metavar="NAME=VALUE", default=[], help="repeatable"
    )
    zero.add_argument("--metrics-listen", metavar="HOST:PORT")
    zero.add_argument("--checks-poll", metavar="DURATION", help="default 30s")
    agent.add_argument(
        "--check",
        action="store_true",
        help="only check the spool is writable and the collector answers /healthz: exit 0 or 1",
    )
    agent.set_defaults(handler=run_agent)

    collector = commands.add_parser("collector", help="ingest API, store, SLAs, alerts, pages")
    collector.add_argument("--config", required=True, type=Path, metavar="FILE")
    collector.add_argument(
        "--check-db",
        action="store_true",
        help="check the database's structure (PRAGMA quick_check) and exit: 0 sound, 1 not",
    )
    collector.set_defaults(handler=run_collector)

    up = commands.add_parser("up", help="a collector and one local agent in one process")
    up.add_argument("--config", required=True, type=Path, metavar="FILE")
    up.set_defaults(handler=run_up)

    check_config = commands.add_parser("check-config", help="validate a config file")
    check_config.add_argument("file", type=Path, metavar="FILE")
    check_config.add_argument(
        "--for",
        dest="process",
        choices=["agent", "collector", "up"],
        default="check",
        help="check as this process reads the file: its sections required, only its "
        "environment variables needed (default: every section as written, every variable)",
    )
    check_config.set_defaults(handler=run_check_config)

    report = commands.add_parser("report", help="print an SLA report from the database")
    report.add_argument("--config", required=True, type=Path, metavar="FILE")
    report.add_argument("--sla", required=True, metavar="ID")
    window = report.add_mutually_exclusive_group()
    window.add_argument("--period", help="2026-11, 2026-W47 or 2026-11-27 (default: current)")
    window.add_argument("--from", dest="from_", metavar="RFC3339", help="window start")
    report.add_argument("--to", metavar="RFC3339", help="window end (with --from)")
    report.add_argument("--format", choices=["json", "csv", "html"], default="json")
    report.set_defaults(handler=run_report)

    probe = commands.add_parser("probe", help="probe a URL or host:port once, now")
    probe.add_argument("target", metavar="URL-or-host:port")
    probe.add_argument("--json", action="store_true", help="print the sample as JSON")
    probe.add_argument("--id", dest="check_id", metavar="ID", help="check id in the sample")
    probe.add_argument("--timeout", default="10s", help="duration, default 10s")
    probe.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    probe.set_defaults(handler=run_probe)

    backup = commands.add_parser("backup", help="online, consistent copy of the database")
    backup.add_argument("--config", required=True, type=Path, metavar="FILE")
    backup.add_argument("--force", action="store_true", help="replace OUT if it exists")
    backup.add_argument(
        "out",
        metavar="OUT",
        help="a file, or a folder to write slawatch-YYYYmmdd-HHMMSS.db (UTC) in",
    )
    backup.set_defaults(handler=run_backup)

    verify = commands.add_parser(
        "verify-evidence", help="check an evidence bundle: signature, hashes, every number"
    )
    verify.add_argument("bundle", type=Path, metavar="FILE.zip")
    verify.add_argument(
        "--key",
        metavar="PUBKEY",
        help="the collector's public key (a file with PEM or base64, or the base64 itself; "
        "GET /api/v1/evidence-key); default: the key the bundle names",
    )
    verify.set_defaults(handler=run_verify_evidence)
    migrate = commands.add_parser(
        "migrate-store", help="copy the SQLite store into an empty PostgreSQL database"
    )
    migrate.add_argument("--config", required=True, type=Path, metavar="FILE")
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/db")
    migrate.add_argument(
        "--chunk-rows", type=int, default=20_000, metavar="N", help="rows per transaction"
    )
    migrate.set_defaults(handler=run_migrate_store)
    importer = commands.add_parser(
        "import", help="print slawatch checks and alerts from Uptime Kuma or Gatus"
    )
    importer.add_argument("tool", choices=["uptime-kuma", "gatus"])
    importer.add_argument(
        "source", type=Path, metavar="FILE", help="Uptime Kuma's kuma.db, or Gatus' config.yaml"
    )
    importer.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="write the secrets the YAML references as ${VARIABLES} to this new file (mode 600)",
    )
    importer.add_argument(
        "--history",
        action="store_true",
        help="also store Uptime Kuma's heartbeats as samples of agent 'imported' (needs --config)",
    )
    importer.add_argument(
        "--config", type=Path, metavar="FILE", help="the collector's config, for --history"
    )
    importer.set_defaults(handler=run_import)
    return parser


def load(path: Path, process: str) -> Config:
    """Load a config for `process`, or print every problem and exit 2."""
    from slawatch.config.loader import ConfigError, load_config

    try:
        return load_config(path, process=process)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


ZERO_CONFIG_OPTIONS = ("collector", "agent_id", "token_file", "spool", "metrics_listen",
                       "checks_poll")  # fmt: skip


def run_agent(args: argparse.Namespace) -> int:
    zero_config = [name for name in ZERO_CONFIG_OPTIONS if getattr(args, name)] + (
        ["label"] if args.label else []
    )
    if args.config is not None:
        if zero_config:
            options = ", ".join("--" + name.replace("_", "-") for name in zero_config)
            return _usage(f"slawatch agent: --config or {options}, not both")
        config = load(args.config, "agent")
        if args.check:
            from slawatch.agent import health_check

            if config.agent is None:
                return _usage(f"{args.config}: no agent: section")
            return health_check.run(config.agent)
        from slawatch.agent.main import run

        return run(config, replay_dead=args.replay_dead)
    if args.check:
        return _usage("slawatch agent --check: give --config FILE")
    missing = [
        option
        for option, value in (
            ("--collector", args.collector),
            ("--id", args.agent_id),
            ("--token-file", args.token_file),
        )
        if not value
    ]
    if missing:
        return _usage(
            "slawatch agent: give --config FILE, or --collector URL --id ID --token-file FILE "
            f"(missing: {', '.join(missing)})"
        )
    labels = {}
    for label in args.label:
        name, equals, value = label.partition("=")
        if not equals or not name:
            return _usage(f"slawatch agent: --label {label}: must be NAME=VALUE")
        labels[name] = value
    from slawatch.agent.main import run_zero_config
    from slawatch.agent.settings import from_command_line

    return run_zero_config(
        from_command_line(
            collectors=args.collector,
            agent_id=args.agent_id,
            token_file=args.token_file,
            spool=args.spool,
            labels=labels,
            metrics_listen=args.metrics_listen,
            checks_poll=args.checks_poll,
        )
    )


def _usage(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_USAGE


def run_collector(args: argparse.Namespace) -> int:
    from slawatch.collector.main import check_database, run

    if args.check_db:
        config = load(args.config, "report")
        assert config.collector is not None
        return check_database(config.collector.database)
    return run(load(args.config, "collector"))


def run_up(args: argparse.Namespace) -> int:
    from slawatch.up import run

    return run(load(args.config, "up"))


def run_check_config(args: argparse.Namespace) -> int:
    from slawatch.config.loader import ConfigError, load_config

    try:
        config = load_config(args.file, process=args.process)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_USAGE
    print(
        f"{args.file}: ok ({len(config.checks)} checks, {len(config.slas)} SLAs, "
        f"{len(config.alerts.channels)} alert channels)"
    )
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    from slawatch.collector.reports.command import run

    return run(
        load(args.config, "report"),
        sla_id=args.sla,
        period=args.period,
        from_=args.from_,
        to=args.to,
        output_format=args.format,
    )


def run_probe(args: argparse.Namespace) -> int:
    from slawatch.agent.probe_command import run

    return run(
        args.target,
        as_json=args.json,
        check_id=args.check_id,
        timeout=args.timeout,
        insecure=args.insecure,
    )


def run_backup(args: argparse.Namespace) -> int:
    from slawatch.collector.backup import run

    return run(load(args.config, "report"), args.out, force=args.force)


def run_verify_evidence(args: argparse.Namespace) -> int:
    from slawatch.collector.evidence.verify import main as verify

    return verify(args.bundle, args.key)


def run_migrate_store(args: argparse.Namespace) -> int:
    from slawatch.collector.migrate_store import run

    return run(load(args.config, "report"), args.to, chunk_rows=args.chunk_rows)


def run_import(args: argparse.Namespace) -> int:
    from slawatch.importers.command import run

    return run(
        args.tool, args.source, env_file=args.env_file, history=args.history, config=args.config
    )


if __name__ == "__main__":
    raise SystemExit(main())
