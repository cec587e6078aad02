"""The configuration: one YAML file, validated in full, with `SYNCD_` environment overrides.

Every problem is gathered and reported together, each as `FILE: key.path: what is wrong`.
Relative paths in the file are taken relative to the file's own folder.
"""

from __future__ import annotations

import contextvars
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from syncd.calendars.limits import HORIZON
from syncd.durations import parse_duration
from syncd.errors import ConfigError
from syncd.zones import find_zone

DEFAULT_CONFIG = Path("~/.config/syncd/syncd.yaml")

# The folder relative paths are resolved against while one file is being validated.
_BASE_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("_BASE_DIR", default=None)
# Off for commands that only read the state (`status`): a calendar share that is unmounted
# right now must not hide what syncd knows.
_CHECK_FOLDERS: contextvars.ContextVar[bool] = contextvars.ContextVar("_CHECK_FOLDERS", default=True)


def _resolve_path(value: Path) -> Path:
    path = Path(os.path.expandvars(str(value))).expanduser()
    return path if path.is_absolute() else (_BASE_DIR.get() or Path.cwd()) / path


def _existing_dir(value: Path) -> Path:
    if _CHECK_FOLDERS.get() and not value.is_dir():
        raise ValueError(f"folder {value} does not exist")
    return value


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"file {value} does not exist")
    return value


def _parent_exists(value: Path) -> Path:
    if _CHECK_FOLDERS.get() and not value.parent.is_dir():
        raise ValueError(f"folder {value.parent} (parent of {value.name}) does not exist")
    return value


def _not_a_file(value: Path) -> Path:
    # A folder made on first use; a file there would fail every pass, so check-config says so.
    if value.exists() and not value.is_dir():
        raise ValueError(f"{value} is a file, not a folder")
    return value


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return value


def _check_zone(value: str) -> str:
    if find_zone(value) is None:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)")
    return value


_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"not an email address: {value!r}")
    return value.lower()


def _check_url(value: str) -> str:
    if not re.match(r"^https?://\S+$", value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
AnyPath = Annotated[Path, AfterValidator(_resolve_path)]
DirPath = Annotated[Path, AfterValidator(_resolve_path), AfterValidator(_existing_dir)]
FilePath = Annotated[Path, AfterValidator(_resolve_path), AfterValidator(_existing_file)]
StateDirPath = Annotated[Path, AfterValidator(_resolve_path), AfterValidator(_not_a_file)]
NewPath = Annotated[Path, AfterValidator(_resolve_path), AfterValidator(_parent_exists)]
Regex = Annotated[str, AfterValidator(_check_regex)]
ZoneName = Annotated[str, AfterValidator(_check_zone)]
Email = Annotated[str, AfterValidator(_check_email)]
Url = Annotated[str, AfterValidator(_check_url)]


class Strict(BaseModel):
    """A config section: unknown keys are mistakes, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_template(value: Path) -> Path:
    from syncd.templating import check_template_file  # templating imports nothing from here

    check_template_file(value)
    return value


def _check_followup_template(value: Path) -> Path:
    from syncd.templating import check_followup_template_file

    check_followup_template_file(value)
    return value


TemplatePath = Annotated[FilePath, AfterValidator(_check_template)]
# A follow-up template must also start with its `Subject: ...` line.
FollowupTemplatePath = Annotated[FilePath, AfterValidator(_check_followup_template)]


# --- calendar sources -------------------------------------------------------------------------

# Where the note link goes: into the booked event (its description, its private properties, or
# both), or into a private "companion" event beside it that no client can see.
LinkPlacement = Literal["description", "private", "both", "companion"]
# The calendar types whose backend keeps companion events (`CompanionCalendar`); any other type
# configured with `link_placement: companion` is refused when the config is read.
COMPANION_CALENDARS = frozenset({"vdir", "google", "caldav", "outlook"})


class VdirCalendarConfig(Strict):
    type: Literal["vdir"]
    path: DirPath
    link_placement: LinkPlacement = "description"


class GoogleCalendarConfig(Strict):
    type: Literal["google"]
    calendar_id: str = "primary"
    link_placement: LinkPlacement = "both"


class CaldavCalendarConfig(Strict):
    """A calendar on a CalDAV server (iCloud, Fastmail, Nextcloud, Radicale...).

    The password is never in the YAML: it is read from `password_file` or printed by
    `password_command` (e.g. `pass show caldav`), exactly one of the two.
    """

    type: Literal["caldav"]
    url: Url  # the server (discovery finds the calendar home) or the calendar itself
    username: str
    password_file: FilePath | None = None
    password_command: str | None = None
    calendar: str = ""  # display name; the first calendar of events when empty
    link_placement: LinkPlacement = "description"

    @model_validator(mode="after")
    def _one_password_source(self) -> CaldavCalendarConfig:
        if (self.password_file is None) == (self.password_command is None):
            raise ValueError("give exactly one of password_file or password_command (never the password)")
        return self


class OutlookCalendarConfig(Strict):
    """A Microsoft 365 / Outlook.com calendar through Microsoft Graph (`microsoft:` signs in).

    The default placement `companion` never writes the shared body, which Graph may mail to
    every attendee; `description` writes it anyway (see the README for the risk)."""

    type: Literal["outlook"]
    calendar: str = ""  # a calendar's name or id; "" is the account's primary calendar
    link_placement: Literal["companion", "description", "private"] = "companion"
    horizon: PositiveDuration | None = None  # default: the top-level `horizon`


CalendarConfig = Annotated[
    VdirCalendarConfig | GoogleCalendarConfig | CaldavCalendarConfig | OutlookCalendarConfig,
    Field(discriminator="type"),
]


# --- note stores ------------------------------------------------------------------------------


class MarkdownNotesConfig(Strict):
    type: Literal["markdown"]
    path: DirPath
    collection: str = "Intro Sessions"
    template: TemplatePath | None = None
    # e.g. "obsidian://open?vault=Notes&file={relpath}"; default is the file:// URI.
    url_template: str | None = None

    @field_validator("collection")
    @classmethod
    def _plain_folder_name(cls, value: str) -> str:
        if not value.strip() or "/" in value or "\\" in value or value.strip(".") == "":
            raise ValueError(f"collection must be a plain folder name, not {value!r}")
        return value

    @field_validator("url_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is not None:
            unknown = set(re.findall(r"\{(\w*)\}", value)) - {"path", "relpath", "name", "uri"}
            if unknown:
                names = ", ".join(sorted(unknown))
                known = "{path}, {relpath}, {name}, {uri}"
                raise ValueError(f"unknown placeholder {names} (use {known})")
        return value


class GoogleDocsNotesConfig(Strict):
    type: Literal["google_docs"]
    folder: str = "Intro Sessions"
    template_doc: str | None = None
    template: TemplatePath | None = None


_NOTION_ID = re.compile(
    r"([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})", re.IGNORECASE
)


def notion_id(value: str) -> str:
    """The dashed id in a Notion database id or URL (the last 32 hex digits of its path)."""
    path = value.strip().split("?", 1)[0].split("#", 1)[0]
    found = _NOTION_ID.findall(path)
    if not found:
        raise ValueError(
            f"no Notion database id in {value!r} (paste the database's URL or its 32-character id)"
        )
    return "-".join(found[-1]).lower()


class NotionNotesConfig(Strict):
    """A page per booking in a Notion database. The integration token is never in the YAML: it
    is read from `token_file`, else from the environment variable SYNCD_NOTION_TOKEN."""

    type: Literal["notion"]
    database: Annotated[str, AfterValidator(notion_id)]
    # "default": the database's default template; "none": the note template's content; else
    # the id (or URL) of one of the database's templates.
    template: str = "default"
    token_file: FilePath | None = None
    note_template: TemplatePath | None = None  # the Jinja note template for `template: none`
    api_url: str | None = None  # advanced: a different API root (the tests' fake)

    @field_validator("template")
    @classmethod
    def _template_choice(cls, value: str) -> str:
        return value if value in ("default", "none") else notion_id(value)


NotesConfig = Annotated[
    MarkdownNotesConfig | GoogleDocsNotesConfig | NotionNotesConfig, Field(discriminator="type")
]


def note_template_file(notes: NotesConfig) -> Path | None:
    """The Jinja note template a notes section names (None: the built-in one); a Notion
    section's `template` names a Notion template, its Jinja one is `note_template`."""
    return notes.note_template if isinstance(notes, NotionNotesConfig) else notes.template


# --- draft sinks ------------------------------------------------------------------------------


class MaildirDraftsConfig(Strict):
    type: Literal["maildir"]
    path: NewPath
    # The Maildir the coach's mail client keeps sent mail in: a follow-up already sent is
    # found there after the state was lost, and not drafted again.
    sent: DirPath | None = None
    delay: Duration = timedelta(minutes=15)
    template: FollowupTemplatePath | None = None

    @model_validator(mode="after")
    def _sent_is_not_drafts(self) -> MaildirDraftsConfig:
        if self.sent is not None and self.sent.resolve() == self.path.resolve():
            raise ValueError(f"sent: {self.sent} is the drafts folder itself")
        return self


class GmailDraftsConfig(Strict):
    type: Literal["gmail"]
    delay: Duration = timedelta(minutes=15)
    template: FollowupTemplatePath | None = None


class OutlookDraftsConfig(Strict):
    type: Literal["outlook"]
    delay: Duration = timedelta(minutes=15)
    template: FollowupTemplatePath | None = None


DraftsConfig = Annotated[
    MaildirDraftsConfig | GmailDraftsConfig | OutlookDraftsConfig, Field(discriminator="type")
]


# --- coaches ----------------------------------------------------------------------------------


class MatchRules(Strict):
    """Which events are intro bookings. All given rules must hold."""

    title: Regex = r"(?i)\bintro\b"
    exclude: Regex | None = None
    organizer: Regex | None = None
    attendee_domain: str | None = None


def _labels(*names: str) -> Any:
    return Field(default_factory=lambda: list(names))


class AnswerLabels(Strict):
    """Booking-form labels ("Label: value" lines in the description) per note field."""

    background: list[str] = _labels("Background", "About you", "Your background", "Role")
    company: list[str] = _labels("Company/Team", "Company / Team", "Company", "Team", "Organization")
    challenge: list[str] = _labels(
        "Challenge",
        "Top-of-mind challenge",
        "Top of mind challenge",
        "What would you like to work on?",
        "What would you like to work on",
        "Goals",
        # The booking tools' default questions, as they write them into the event.
        "Please share anything that will help prepare for our meeting",  # Calendly
        "Additional notes",  # Cal.com
    )
    preferences: list[str] = _labels("Coaching preferences", "Preferences", "Coaching style")
    timezone: list[str] = _labels("Time zone", "Timezone", "Invitee Time Zone")
    email: list[str] = _labels("Email", "E-mail", "Invitee Email", "Email address", "Your email")
    name: list[str] = _labels(
        "Name", "Invitee", "Invitee Name", "Full name", "Booked by", "Your name", "What is your name?"
    )


class CoachConfig(Strict):
    name: str
    email: Email
    aliases: list[Email] = Field(default_factory=list)
    timezone: ZoneName
    pricing_url: Url
    specialties: list[str] = Field(default_factory=list)
    calendar: CalendarConfig
    match: MatchRules = Field(default_factory=MatchRules)
    answers: AnswerLabels = Field(default_factory=AnswerLabels)
    notes: NotesConfig
    drafts: DraftsConfig
    reminder: Duration | None = timedelta(minutes=5)
    # The coach's own Google / Microsoft account: keys not given are the top-level section's,
    # the token is the coach's (see syncd.accounts). None: the top-level account.
    google: GoogleAuthConfig | None = None
    microsoft: MicrosoftAuthConfig | None = None

    @model_validator(mode="after")
    def _companion_calendar(self) -> CoachConfig:
        calendar = self.calendar
        if calendar.link_placement == "companion" and calendar.type not in COMPANION_CALENDARS:
            raise ValueError(
                f"calendar.link_placement: a {calendar.type} calendar cannot keep companion events "
                f"(types that can: {', '.join(sorted(COMPANION_CALENDARS))})"
            )
        return self

    @property
    def key(self) -> str:
        """Stable id of the coach in the state store."""
        return self.email

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset([self.email, *self.aliases])


class GoogleAuthConfig(Strict):
    client_secrets: AnyPath = Path("~/.config/syncd/google-client.json")
    token: AnyPath | None = None  # default: state_dir/google-token.json
    port: int = Field(default=8765, ge=1024, le=65535)
    token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (an endpoint)
    api_endpoint: str | None = None  # advanced: a different API root (the tests' fake)


def default_concurrency() -> int:
    """Coaches polled at once unless `concurrency:` says: four per CPU this process may run
    on, at most 16. A pass with nothing new is one request per coach and waits on the network
    (bench/replicas.py: 500 coaches at 80 ms a request took 11 s over 4 threads, 2.8 s over 16,
    for the same CPU), so threads beyond the cores pay. Past that they add memory (a thread
    keeps its own HTTP connections and, for an account several coaches share, its own Google
    service: 16 threads put 500 Google coaches just over 150 MiB) and one OAuth client's rate
    limits, not speed. Coaches on local folders do not count: they run in one lane."""
    try:
        cpus = len(os.sched_getaffinity(0))  # a container's or taskset's CPUs, not the host's
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return min(16, 4 * cpus)


def _check_listen(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:9464), not {value!r}")
    return value


class MetricsConfig(Strict):
    """The operator's HTTP endpoint: Prometheus `/metrics` and `/healthz`."""

    listen: Annotated[str, AfterValidator(_check_listen)] = "127.0.0.1:9464"


class MicrosoftAuthConfig(Strict):
    """The Microsoft account syncd signs in to (`syncd auth microsoft`) for Outlook backends."""

    client_id: str = ""  # the Entra app registration's "Application (client) ID"
    tenant: str = "common"  # "common", "organizations", "consumers" or a tenant id / domain
    token_cache: AnyPath | None = None  # default: state_dir/microsoft-token.json
    # Advanced: another sign-in host (a national cloud, the tests' fake) and Graph root.
    authority: Url = "https://login.microsoftonline.com"
    graph_endpoint: Url = "https://graph.microsoft.com/v1.0"


class StateConfig(Strict):
    """The state in a PostgreSQL database, shared by several `syncd run` replicas that split
    the coaches through leases (without this section: SQLite in `state_dir`, one machine).

    The password comes from the URL, from `password_file`, or from libpq's own PGPASSFILE
    (`~/.pgpass`); it is never written into a message or log line (see `shown`)."""

    url: str = Field(repr=False)  # may hold the password
    password_file: FilePath | None = None
    # Longer than one coach's run may take (a Google request retried for ~3 min): a lease that
    # runs out while its coach runs lets another replica start that coach too.
    lease: PositiveDuration = timedelta(minutes=5)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"expected a postgresql:// URL, not {redact_url(value)!r}")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> StateConfig:
        if self.password_file is not None and _url_password(self.url) is not None:
            raise ValueError("give the password once: in the URL or in password_file, not both")
        return self

    @property
    def shown(self) -> str:
        """The URL fit for a message: its password replaced by `***`."""
        return redact_url(self.url)


def _url_password(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.password is not None:
        return parts.password
    found = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "password"]
    return found[0] if found else None


def redact_url(url: str) -> str:
    """`url` with any password (in the user part or a `password=` parameter) as `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name, colon, _secret = user.partition(":")
        netloc = f"{name}{':***' if colon else ''}@{host}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    # Put together by hand: urlunsplit drops the empty host of `postgresql:///db?host=/run/...`.
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


class Settings(BaseSettings):
    """The whole configuration of one syncd daemon."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="SYNCD_", env_nested_delimiter="__"
    )

    state_dir: StateDirPath = Path("~/.local/state/syncd")
    poll_interval: PositiveDuration = timedelta(seconds=60)
    lookback: Duration = timedelta(days=2)
    horizon: PositiveDuration = HORIZON
    max_lateness: Duration = timedelta(days=7)
    log_format: Literal["text", "json"] = "text"
    google: GoogleAuthConfig = Field(default_factory=GoogleAuthConfig)
    microsoft: MicrosoftAuthConfig = Field(default_factory=MicrosoftAuthConfig)
    state: StateConfig | None = None  # PostgreSQL; SQLite in state_dir when not set
    coaches: list[CoachConfig] = Field(min_length=1)
    # One YAML file per coach, each validated like a `coaches:` entry; added to `coaches:`.
    coaches_dir: DirPath | None = None
    concurrency: int = Field(default_factory=default_concurrency, ge=1, le=64)
    replica: str | None = None  # this process's name in the leases; default hostname:pid
    metrics: MetricsConfig | None = None
    # Each coach's own account as settings of their own, made on first use (syncd.accounts).
    _accounts: dict[tuple[str, str, int], tuple[Settings, Settings]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _coaches_from_dir(cls, data: Any) -> Any:
        # Before the fields are checked: the folder's coaches join the list, so they are
        # checked with the others (one email once, at least one coach) without a second model.
        if not isinstance(data, dict) or not data.get("coaches_dir"):
            return data
        from syncd.coach_files import add_coach_files  # it imports CoachConfig from here

        return add_coach_files(data, _resolve_path(Path(str(data["coaches_dir"]))))

    @model_validator(mode="after")
    def _microsoft_client_id(self) -> Settings:
        for coach in self.coaches:
            own = coach.microsoft
            client_id = (
                own.client_id if own and "client_id" in own.model_fields_set else self.microsoft.client_id
            )
            if "outlook" in (coach.calendar.type, coach.drafts.type) and not client_id.strip():
                raise ValueError(
                    "microsoft.client_id is required when a coach uses an Outlook backend (the "
                    "Application (client) ID of syncd's app registration in Microsoft Entra)"
                )
        return self

    @model_validator(mode="after")
    def _one_account_per_token(self) -> Settings:
        # Two accounts writing one token file would overwrite each other's sign-in.
        from syncd.accounts import own_token_path  # it imports nothing from here at run time
        from syncd.google.auth import token_path  # neither loads its API's library
        from syncd.microsoft.auth import token_cache_path

        for service in ("google", "microsoft"):
            shared = token_path(self) if service == "google" else token_cache_path(self)
            owners: dict[Path, str] = {shared.resolve(): "the top-level account"}
            for coach in self.coaches:
                path = own_token_path(self, coach, service)
                if path is None:
                    continue
                other = owners.setdefault(path.resolve(), f"coach {coach.email}")
                if other != f"coach {coach.email}":
                    raise ValueError(
                        f"coach {coach.email}: {service} token file {path} is also {other}'s; "
                        "give each account its own"
                    )
        return self

    @field_validator("coaches")
    @classmethod
    def _unique_emails(cls, coaches: list[CoachConfig]) -> list[CoachConfig]:
        seen: set[str] = set()
        for coach in coaches:
            if coach.email in seen:
                raise ValueError(f"coach {coach.email} is listed twice")
            seen.add(coach.email)
        return coaches


def config_path(explicit: str | None) -> Path:
    """The config file to use: `--config`, else `$SYNCD_CONFIG`, else the per-user default."""
    chosen = explicit or os.environ.get("SYNCD_CONFIG") or str(DEFAULT_CONFIG)
    return Path(chosen).expanduser()


def load_settings(path: Path, *, check_folders: bool = True) -> Settings:
    """Read and validate `path`. Raises ConfigError listing every problem, one per line.

    With `check_folders=False` the backends' folders need not exist (for `syncd status`)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not a config file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (pass --config FILE or set SYNCD_CONFIG)")
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    refused_env = _refused_env_settings()
    if refused_env:
        raise ConfigError("\n".join(f"{path}: environment variable {problem}" for problem in refused_env))

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=path, yaml_file_encoding="utf-8")

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    base, folders = _BASE_DIR.set(path.resolve().parent), _CHECK_FOLDERS.set(check_folders)
    try:
        return _FileSettings()
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{path}: {line}" for line in format_validation(exc))) from None
    finally:
        _BASE_DIR.reset(base)
        _CHECK_FOLDERS.reset(folders)


def format_validation(exc: ValidationError) -> list[str]:
    """One `key.path: problem` line per error, without pydantic's boilerplate; a value that
    came from a `SYNCD_` variable is named by that variable, not by the file's key."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = _env_name(error["loc"]) or _dotted(_without_union_tags(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "union_tag_not_found":
            message = "required key 'type' is missing; " + _expected_tags(error)
        elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
            message = (
                "expected a mapping of keys (key: value lines), not " + type(error.get("input")).__name__
            )
        elif error["type"] == "union_tag_invalid":
            message = f"unknown type {error.get('input', {}).get('type')!r}; " + _expected_tags(error)
        lines.append(f"{loc or '(top level)'}: {message}")
    return lines


_UNIONS = {"calendar", "notes", "drafts"}


def _without_union_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # A discriminated union adds the chosen tag ("vdir") after its field; the user never wrote
    # it. Only there: `google` is also the top-level key of the Google settings.
    return tuple(part for i, part in enumerate(loc) if i == 0 or loc[i - 1] not in _UNIONS)


def _expected_tags(error: Any) -> str:
    expected = (error.get("ctx") or {}).get("expected_tags", "")
    return f"expected one of {expected}" if expected else "see config/syncd.example.yaml"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (the last would win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Coaches are list items: an override would replace the whole list, not one coach's key.
_FILE_ONLY = {"COACHES"}


def _refused_env_settings() -> list[str]:
    """`NAME: problem` for each SYNCD_ variable syncd will not take.

    pydantic-settings ignores SYNCD_ variables that name no setting; a misspelt override
    would be silently lost, as a misspelt key in the file would be without extra="forbid"."""
    known = {name.upper() for name in Settings.model_fields} | {"CONFIG", "NOTION_TOKEN"}
    problems = []
    for name in sorted(os.environ):
        if not name.upper().startswith("SYNCD_"):
            continue
        setting = name[len("SYNCD_") :].split("__")[0].upper()
        if setting in _FILE_ONLY:
            problems.append(f"{name}: {setting.lower()} are set in the config file only")
        elif setting not in known:
            problems.append(f"{name}: unknown setting")
    return problems


def _env_name(loc: tuple[int | str, ...]) -> str | None:
    """`environment variable SYNCD_X__Y` when a SYNCD_ variable set the value at `loc` (or a
    mapping holding it); pydantic-settings matches the names case-insensitively."""
    set_names = {name.upper(): name for name in os.environ}
    for end in range(len(loc), 0, -1):
        parts = loc[:end]
        if any(isinstance(part, int) for part in parts):
            continue
        name = set_names.get("SYNCD_" + "__".join(str(part) for part in parts).upper())
        if name is not None:
            return f"environment variable {name}"
    return None


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: Path) -> Any:
    """The YAML document in `path` (duplicate keys refused). Raises ConfigError, one line
    naming the file: unreadable, or where the syntax breaks."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: YAML syntax error: {problem}"
    return f"YAML syntax error: {problem}"
