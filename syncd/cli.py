"""The `syncd` command line: `syncd [--config FILE] COMMAND`.

User mistakes (config, auth) become one line on stderr and a non-zero exit code; a
traceback means a bug in syncd.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel

from syncd import __version__
from syncd.accounts import own_token_path
from syncd.config import Settings, config_path, load_settings
from syncd.durations import format_duration, parse_duration
from syncd.errors import AuthError, ConfigError, SyncdError
from syncd.logs import setup_logging
from syncd.runner import EXIT_AUTH, EXIT_CONFIG, EXIT_FAILED, EXIT_OK, run_once
from syncd.status_view import DEFAULT_SINCE, show_status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="Turns intro-session bookings into session notes, event links and follow-up drafts.",
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $SYNCD_CONFIG, else ~/.config/syncd/syncd.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details too")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="the daemon: poll forever (SIGTERM stops, SIGHUP reloads the config)")
    once = commands.add_parser("once", help="run one pass, then exit")
    once.add_argument("--dry-run", action="store_true", help="say what would be done, change nothing")
    status = commands.add_parser("status", help="list tracked bookings and the daemon's health")
    shown = status.add_mutually_exclusive_group()
    shown.add_argument("--all", action="store_true", help="every booking tracked, however old")
    shown.add_argument(
        "--since",
        metavar="DURATION",
        type=_duration,
        default=DEFAULT_SINCE,
        help=f"sessions back this far, e.g. 30d (default {format_duration(DEFAULT_SINCE)}); "
        "upcoming ones and any still waiting on syncd are always shown",
    )
    commands.add_parser("check-config", help="validate the config file and templates")
    doctor = commands.add_parser("doctor", help="list state records that cannot be read")
    doctor.add_argument(
        "--quarantine",
        action="store_true",
        help="move them to the state's quarantine table (kept, not deleted)",
    )
    notion = commands.add_parser("notion", help="Notion notes: `setup` adds the properties syncd needs")
    notion.add_argument("action", choices=["setup"], help="what to do")
    auth = commands.add_parser("auth", help="authorise access to an account")
    auth.add_argument("service", choices=["google", "microsoft"], help="the account to authorise")
    auth.add_argument(
        "--coach",
        metavar="EMAIL",
        help="sign in this coach's own account (its `google:`/`microsoft:` section); "
        "default: the top-level account",
    )
    demo = commands.add_parser("demo", help="run one pass on a throw-away sample calendar")
    demo.add_argument("--dir", metavar="DIR", help="where to build the demo (default: a new temp folder)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("text", logging.DEBUG if args.verbose else logging.INFO)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # the reader went away (`syncd status | head -3`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ConfigError as exc:
        print(f"syncd: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AuthError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_AUTH
    except SyncdError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from syncd.demo import run_demo

        return run_demo(Path(args.dir) if args.dir else None)
    path = config_path(args.config)
    if args.command == "run":
        from syncd.daemon import run_daemon

        return run_daemon(path)
    settings = load_settings(path, check_folders=args.command not in ("status", "doctor"))
    setup_logging(settings.log_format, logging.DEBUG if args.verbose else logging.INFO)
    if args.command == "once":
        return run_once(settings, dry_run=args.dry_run)
    if args.command == "status":
        show_status(settings, datetime.now(UTC), since=None if args.all else args.since)
        return EXIT_OK
    if args.command == "doctor":
        from syncd.doctor import run_doctor

        return run_doctor(settings, quarantine=args.quarantine)
    if args.command == "check-config":
        return check_config(path, settings)
    if args.command == "notion":
        return notion_setup(settings)
    if args.command == "auth":
        return sign_in(settings, args.service, args.coach)
    raise AssertionError(args.command)


def sign_in(settings: Settings, service: str, coach_email: str | None) -> int:
    """`syncd auth SERVICE [--coach EMAIL]`: sign in the top-level account, or that coach's own
    (its token stored where the coach's section says)."""
    from syncd.accounts import coach_for_auth

    account, addresses = settings, frozenset[str]()
    if coach_email is not None:
        coach, account = coach_for_auth(
            settings, coach_email, "google" if service == "google" else "microsoft"
        )
        addresses = coach.addresses
    if service == "microsoft":
        from syncd.microsoft.auth import run_device_login

        run_device_login(account, out=sys.stdout, expected=addresses)
        return EXIT_OK
    from syncd.google.auth import run_consent

    # sys.stdout now, not the default bound at import (tests swap it)
    run_consent(account, out=sys.stdout, login_hint=min(addresses) if addresses else None)
    return EXIT_OK


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check_config(path: Path, settings: Settings) -> int:
    """Print what the config holds (the loader has already validated every key and template)."""
    print(f"{path}: OK")
    print(
        f"  state {settings.state.shown if settings.state else settings.state_dir}, a pass every {format_duration(settings.poll_interval)}, "
        f"lookback {format_duration(settings.lookback)}, max lateness {format_duration(settings.max_lateness)}"
    )
    for coach in settings.coaches:
        print(f"  coach {coach.name} <{coach.email}> ({coach.timezone})")
        print(f"    calendar: {_describe(coach.calendar)}")
        print(f"    notes:    {_describe(coach.notes)}")
        print(f"    drafts:   {_describe(coach.drafts)}")
        print(f"    match:    title {coach.match.title}")
        for service, token in (
            ("google", own_token_path(settings, coach, "google")),
            ("microsoft", own_token_path(settings, coach, "microsoft")),
        ):
            if token is not None:
                print(f"    {service} account: the coach's own, token {token}")
    return EXIT_FAILED if not notion_checked(settings) else EXIT_OK


def notion_checked(settings: Settings) -> bool:
    """Check each coach's Notion database (reachable, shared, the properties syncd needs);
    print a line per problem. True when there is none (or no coach keeps notes in Notion)."""
    sections = [(c, c.notes) for c in settings.coaches if c.notes.type == "notion"]
    if not sections:
        return True
    from syncd.notes.notion import check_database

    problems = [(c, check_database(n, c, settings)) for c, n in sections]
    for coach, problem in problems:
        print(f"  coach {coach.email}: Notion: {problem or 'database reachable, properties present'}")
    return not any(problem for _, problem in problems)


def notion_setup(settings: Settings) -> int:
    """`syncd notion setup`: add the properties syncd needs to each coach's Notion database."""
    from syncd.notes.notion import setup_database

    for coach in settings.coaches:
        if coach.notes.type == "notion":
            print(f"coach {coach.email}: Notion: {setup_database(coach.notes, coach, settings)}")
    return EXIT_OK


def _describe(section: BaseModel) -> str:
    fields = section.model_dump(exclude_none=True)
    parts = [str(fields.pop("type"))]
    for key, value in fields.items():
        parts.append(f"{key}={format_duration(value) if isinstance(value, timedelta) else value}")
    if "template" in type(section).model_fields and "template" not in fields:
        parts.append("template=(built-in)")
    return " ".join(parts)
