"""The daemon's health: what the last pass did and when the next one is due.

The daemon records a `Health` in the state store (meta key `health`, JSON) after every pass;
`syncd status` reads it back, from another process, and prints `format_health` lines. Keeping it
in the SQLite state (not in memory) means status works whether or not the daemon is running, and
tells the operator when it stopped running.

Replicas sharing a PostgreSQL state each keep their own record (`health:REPLICA`), or status
would show whichever replica wrote last; status then lists each live replica's last pass.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from syncd.timefmt import format_log_time

log = logging.getLogger(__name__)

META_KEY = "health"

# How late the next pass may be before status says the daemon looks stopped: a pass in progress
# legitimately delays it, so allow some slack.
OVERDUE_GRACE = timedelta(minutes=2)


class MetaStore(Protocol):
    """The part of the state store health needs (syncd.state.StateStore satisfies it)."""

    def get_meta(self, key: str) -> str | None: ...

    def put_meta(self, key: str, value: str) -> None: ...


class PassReportLike(Protocol):
    """What health reads from the engine's PassReport (syncd.engine.PassReport satisfies it)."""

    @property
    def started(self) -> datetime: ...
    @property
    def finished(self) -> datetime: ...
    @property
    def errors(self) -> dict[str, int]: ...
    @property
    def auth_failed(self) -> bool: ...
    @property
    def stopped_early(self) -> bool: ...
    def summary(self) -> str: ...


class HealthSource(MetaStore, Protocol):
    """The state store as `syncd status` sees it: health record and pending follow-ups."""

    def pending_followups(self) -> list[tuple[str, str, datetime]]: ...


@dataclass(frozen=True)
class Health:
    """The outcome of the daemon's last pass. Times are aware UTC."""

    started: datetime
    finished: datetime
    ok: bool
    summary: str  # the pass's one-line summary, or why it failed
    next_pass: datetime | None = None
    errors: dict[str, int] = field(default_factory=dict)  # coach email -> errors in that pass
    auth_failed: bool = False
    stopped_early: bool = False
    replica: str = ""  # the replica that ran the pass, when several share the state

    def to_json(self) -> str:
        """The JSON stored under the `health` meta key."""
        data: dict[str, Any] = asdict(self)
        for key in ("started", "finished", "next_pass"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Health:
        """Parse `to_json` output. Raises ValueError (or KeyError/TypeError) on anything else."""
        data = json.loads(text)
        next_pass = data.get("next_pass")
        return cls(
            started=_aware(data["started"]),
            finished=_aware(data["finished"]),
            ok=bool(data["ok"]),
            summary=str(data["summary"]),
            next_pass=_aware(next_pass) if next_pass else None,
            errors={str(k): int(v) for k, v in dict(data.get("errors", {})).items()},
            auth_failed=bool(data.get("auth_failed", False)),
            stopped_early=bool(data.get("stopped_early", False)),
            replica=str(data.get("replica", "")),
        )


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def from_report(report: PassReportLike, next_pass: datetime | None) -> Health:
    """Health after a pass that returned its report (it may still have had errors)."""
    failed = report.auth_failed or any(report.errors.values())
    return Health(
        started=report.started,
        finished=report.finished,
        ok=not failed,
        summary=report.summary(),
        next_pass=next_pass,
        errors={coach: n for coach, n in report.errors.items() if n},
        auth_failed=report.auth_failed,
        stopped_early=report.stopped_early,
    )


def from_failure(started: datetime, finished: datetime, reason: str, next_pass: datetime | None) -> Health:
    """Health after a pass that raised instead of returning a report."""
    return Health(started=started, finished=finished, ok=False, summary=reason, next_pass=next_pass)


def meta_key(replica: str = "") -> str:
    """The meta key of `replica`'s health record (`health` when one process has the state)."""
    return f"{META_KEY}:{replica}" if replica else META_KEY


def save_health(store: MetaStore, health: Health) -> None:
    """Record `health` in the state store, under its replica's key (overwriting the previous
    pass's)."""
    store.put_meta(meta_key(health.replica), health.to_json())


def load_health(store: MetaStore) -> Health | None:
    """The last recorded health of the one process keeping this state (replicas sharing one
    have a record each: `Store.replica_health`), or None if no pass was recorded (or the
    record is unreadable)."""
    return parse_health(store.get_meta(META_KEY))


def parse_health(text: str | None) -> Health | None:
    """A stored health record, or None for none (or one that cannot be read: logged)."""
    if text is None:
        return None
    try:
        return Health.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable health record in the state: %s", exc)
        return None


def status_lines(
    state: HealthSource,
    now: datetime | None = None,
    tz: tzinfo | None = None,
    with_coach: bool = True,
    replicas: Mapping[str, str | None] | None = None,
) -> list[str]:
    """The health lines `syncd status` prints, read from the state store; with `replicas`
    (replica -> its stored record, from a shared state), one block of pass lines per replica."""
    pending = state.pending_followups()
    if replicas is None:
        return format_health(load_health(state), pending, now, tz, with_coach=with_coach)
    healths = {name: parse_health(text) for name, text in replicas.items()}
    return format_replicas(healths, pending, now, tz, with_coach=with_coach)


def format_replicas(
    healths: Mapping[str, Health | None],
    pending: list[tuple[str, str, datetime]],
    now: datetime | None = None,
    tz: tzinfo | None = None,
    limit: int = 10,
    with_coach: bool = True,
) -> list[str]:
    """`format_health` for replicas sharing a state: each replica's last pass, next pass and
    errors (indented under its name), then the pending follow-ups once."""
    now = now or datetime.now(UTC)
    lines = [f"Replicas: {len(healths)}" if healths else "Replicas: none has recorded a pass yet"]
    for name, health in sorted(healths.items()):
        lines.append(f"Replica {name}:")
        lines.extend(f"  {line}" for line in _pass_lines(health, now, tz))
    return lines + _pending_lines(pending, now, tz, limit, with_coach)


def format_health(
    health: Health | None,
    pending: list[tuple[str, str, datetime]],
    now: datetime | None = None,
    tz: tzinfo | None = None,
    limit: int = 10,
    with_coach: bool = True,
) -> list[str]:
    """Lines for `syncd status`: last pass, next pass, errors per coach, pending follow-ups.

    `pending` is `StateStore.pending_followups()`: (coach, client name, due UTC). Times are shown
    in `tz` (default: the machine's local zone), because the operator reads them; at most `limit`
    follow-ups are listed (the bookings table above has them all), each naming its coach
    `with_coach` (with one coach, the address on every line says nothing).
    """
    now = now or datetime.now(UTC)
    return _pass_lines(health, now, tz) + _pending_lines(pending, now, tz, limit, with_coach)


def _pending_lines(
    pending: list[tuple[str, str, datetime]], now: datetime, tz: tzinfo | None, limit: int, with_coach: bool
) -> list[str]:
    lines = [f"Pending follow-ups: {len(pending)}" + (", soonest first:" if pending else "")]
    soonest = sorted(pending, key=lambda item: item[2])
    for coach, client, due in soonest[:limit]:
        whose = f"  ({coach})" if with_coach else ""
        lines.append(f"  {format_log_time(due, tz)}  {client}{whose}{_relative(due, now)}")
    if len(soonest) > limit:
        lines.append(f"  ... and {len(soonest) - limit} more")
    return lines


def _pass_lines(health: Health | None, now: datetime, tz: tzinfo | None) -> list[str]:
    if health is None:
        return ["Last pass: never (the daemon has not completed a pass yet)"]
    result = "ok" if health.ok else "FAILED" if not health.errors else "with errors"
    if health.stopped_early:
        result += ", stopped early"
    lines = [f"Last pass: {format_log_time(health.finished, tz)} ({result}): {health.summary}"]
    if health.auth_failed:
        lines.append("  authorization failed: run `syncd auth google` again")
    lines.append(_next_pass_line(health.next_pass, now, tz))
    lines.append("Errors per coach:" + ("" if health.errors else " none"))
    lines.extend(f"  {coach}: {count}" for coach, count in sorted(health.errors.items()))
    return lines


def _next_pass_line(next_pass: datetime | None, now: datetime, tz: tzinfo | None) -> str:
    if next_pass is None:
        return "Next pass: none (the daemon stopped after this pass)"
    line = f"Next pass: {format_log_time(next_pass, tz)}"
    if overdue(next_pass, now):
        line += " (overdue: is the daemon running? see `systemctl status syncd`)"
    return line


def overdue(next_pass: datetime, now: datetime) -> bool:
    """Whether the pass due at `next_pass` is so late at `now` that the daemon looks stopped
    or stuck (`syncd status` says so, `/healthz` fails)."""
    return now > next_pass + OVERDUE_GRACE


def _relative(due: datetime, now: datetime) -> str:
    return "  (due now)" if due <= now else ""
