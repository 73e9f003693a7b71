"""netladder serve's configuration: a blackbox_exporter `modules:` file, taken as it is, plus
netladder's own sections.

    modules:      blackbox's modules (config/config.go of blackbox_exporter 0.23): probers
                  http, tcp, icmp, dns with blackbox's keys and defaults; netladder adds
                  icmp.packets / icmp.interval and the probers udp, stun, trace, diagnose
    allow:        networks: [CIDR…], names: [name, *.suffix…] — when present, /probe refuses
                  (403) every other target
    basic_auth:   username: NAME, password_file: PATH
    tls:          cert_file: PATH, key_file: PATH
    limits:       max_probes_in_flight, max_connections, max_request_bytes
    monitors:     continuous probes (parsed and validated here; their runtime is separate)
    history:      raw_days, rollup_days (the monitors' history)

Every key is checked: an unknown one is an error naming it (blackbox decodes with KnownFields),
and every error is one line naming the key, which `netladder serve` turns into exit 2.  A
module whose prober blackbox has but netladder lacks (grpc, websocket, unix) loads, is named in
`warnings`, and answers 400 at /probe.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netladder.errors import N_, UsageError, Word

__all__ = [
    "DEFAULT_CONFIG_TEXT",
    "PROBERS",
    "UNSUPPORTED_PROBERS",
    "Allow",
    "BasicAuth",
    "Config",
    "ConfigError",
    "DnsModule",
    "DnsRRValidator",
    "HeaderMatch",
    "HistoryConfig",
    "HttpModule",
    "IcmpModule",
    "Limits",
    "Module",
    "Monitor",
    "QueryResponse",
    "StunModule",
    "TcpModule",
    "TlsFiles",
    "TraceModule",
    "UdpModule",
    "DiagnoseModule",
    "load",
    "parse",
    "parse_duration",
]

PROBERS = ("http", "tcp", "icmp", "dns", "udp", "stun", "trace", "diagnose")
UNSUPPORTED_PROBERS = ("grpc", "websocket", "unix")

# What Debian's prometheus-blackbox-exporter ships as /etc/prometheus/blackbox.yml (its grpc
# modules left out): `netladder serve` with no --config answers the same module names.
DEFAULT_CONFIG_TEXT = """\
modules:
  http_2xx:
    prober: http
  http_post_2xx:
    prober: http
    http:
      method: POST
  tcp_connect:
    prober: tcp
  pop3s_banner:
    prober: tcp
    tcp:
      query_response:
      - expect: "^+OK"
      tls: true
      tls_config:
        insecure_skip_verify: false
  ssh_banner:
    prober: tcp
    tcp:
      query_response:
      - expect: "^SSH-2.0-"
      - send: "SSH-2.0-blackbox-ssh-check"
  irc_banner:
    prober: tcp
    tcp:
      query_response:
      - send: "NICK prober"
      - send: "USER prober prober prober :prober"
      - expect: "PING :([^ ]+)"
        send: "PONG ${1}"
      - expect: "^:[^ ]+ 001"
  icmp:
    prober: icmp
  icmp_ttl5:
    prober: icmp
    timeout: 5s
    icmp:
      ttl: 5
"""


class ConfigError(UsageError):
    """A bad configuration: one line naming the key (exit 2)."""


# -- values ---------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_UNIT_S = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}


def parse_duration(text: str) -> float:
    """Seconds from a Go/Prometheus duration (`5s`, `1m30s`, `500ms`, `1.5h`); ValueError."""
    s = text.strip()
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r} (use e.g. 5s, 1m30s, 500ms)")
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if not s:
        raise ValueError("empty duration")
    return total


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def _go_regexp(text: str) -> str:
    """The Python spelling of a Go (RE2) regular expression, for the forms that differ:
    a repeated empty-width assertion (`^+OK`, in Debian's pop3s example; Python refuses
    "nothing to repeat"), POSIX classes inside brackets (`[[:digit:]]`), and `\\z`."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\\Z" if nxt == "z" and not in_class else ch + nxt)
            i += 2
            continue
        if in_class:
            m = re.match(r"\[:(\^?)(\w+):\]", text[i:])
            if m:
                out.append(_posix(m, text))
                i += m.end()
                continue
            if ch == "]" and not (out and out[-1] in ("[", "[^")):
                in_class = False
            out.append(ch)
        elif ch == "[":
            in_class = True
            if text.startswith("[^", i):
                out.append("[^")
                i += 2
                continue
            out.append(ch)
        elif ch in "^$" and i + 1 < len(text) and text[i + 1] in "+*?{":
            out.append(f"(?:{ch})")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _posix(m: re.Match[str], text: str) -> str:
    chars = _POSIX_CLASSES.get(m.group(2))
    if chars is None:
        raise re.error(f"unknown POSIX class [:{m.group(2)}:]", text)
    return chars if not m.group(1) else m.group(0)


def _regexp(text: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(_go_regexp(text))
    except re.error as exc:
        raise ConfigError(
            "{where}: could not compile regular expression {text!r}: {error}",
            where=where,
            text=text,
            error=exc,
        ) from None


# -- the typed form -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """The subset of Prometheus's tls_config that the engines can honour."""

    insecure_skip_verify: bool = False
    ca_file: str | None = None
    server_name: str | None = None


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    header: str
    regexp: re.Pattern[str]
    allow_missing: bool = False


@dataclass(frozen=True, slots=True)
class HttpModule:
    valid_status_codes: tuple[int, ...] = ()  # empty: 2xx
    valid_http_versions: tuple[str, ...] = ()
    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True
    fail_if_ssl: bool = False
    fail_if_not_ssl: bool = False
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    fail_if_body_matches_regexp: tuple[re.Pattern[str], ...] = ()
    fail_if_body_not_matches_regexp: tuple[re.Pattern[str], ...] = ()
    fail_if_header_matches: tuple[HeaderMatch, ...] = ()
    fail_if_header_not_matches: tuple[HeaderMatch, ...] = ()
    follow_redirects: bool = True
    enable_http2: bool = True
    tls_config: TlsConfig = TlsConfig()
    body_size_limit: int = 0  # bytes; 0: the engine's own bound
    authorization: str | None = None  # a ready Authorization header value (basic or bearer)


@dataclass(frozen=True, slots=True)
class QueryResponse:
    expect: re.Pattern[str] | None = None
    send: str = ""
    starttls: bool = False


@dataclass(frozen=True, slots=True)
class TcpModule:
    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str | None = None
    query_response: tuple[QueryResponse, ...] = ()
    tls: bool = False
    tls_config: TlsConfig = TlsConfig()


@dataclass(frozen=True, slots=True)
class IcmpModule:
    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str | None = None
    payload_size: int = 0  # 0: blackbox's own payload ("Prometheus Blackbox Exporter", 28 bytes)
    dont_fragment: bool = False
    ttl: int = 64
    # netladder: several echoes per probe (blackbox sends one), `interval` seconds apart
    packets: int = 1
    interval: float = 1.0


@dataclass(frozen=True, slots=True)
class DnsRRValidator:
    fail_if_matches_regexp: tuple[re.Pattern[str], ...] = ()
    fail_if_all_match_regexp: tuple[re.Pattern[str], ...] = ()
    fail_if_not_matches_regexp: tuple[re.Pattern[str], ...] = ()
    fail_if_none_matches_regexp: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True, slots=True)
class DnsModule:
    query_name: str
    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str | None = None
    transport_protocol: str = "udp"
    query_class: str = "IN"
    query_type: str = "ANY"
    recursion_desired: bool = True
    valid_rcodes: tuple[str, ...] = ("NOERROR",)
    validate_answer_rrs: DnsRRValidator = DnsRRValidator()
    validate_authority_rrs: DnsRRValidator = DnsRRValidator()
    validate_additional_rrs: DnsRRValidator = DnsRRValidator()


@dataclass(frozen=True, slots=True)
class UdpModule:
    """netladder: send a datagram, expect one back (and optionally a regexp in it)."""

    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True
    send: str = ""
    expect: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class StunModule:
    """netladder: a STUN Binding request; the mapped address says whether we are behind NAT."""

    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True


@dataclass(frozen=True, slots=True)
class TraceModule:
    """netladder: a traceroute; hop count, reached, a hash of the path."""

    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True
    protocol: str = "icmp"  # udp | icmp | tcp
    port: int | None = None
    max_hops: int = 30
    queries: int = 1
    wait: float = 2.0


@dataclass(frozen=True, slots=True)
class DiagnoseModule:
    """netladder: the whole ladder for a host, host:port or URL."""

    ports: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    prober: str
    timeout: float = 0.0  # seconds; 0: the scrape's timeout minus the offset
    http: HttpModule = HttpModule()
    tcp: TcpModule = TcpModule()
    icmp: IcmpModule = IcmpModule()
    dns: DnsModule | None = None
    udp: UdpModule = UdpModule()
    stun: StunModule = StunModule()
    trace: TraceModule = TraceModule()
    diagnose: DiagnoseModule = DiagnoseModule()
    raw: Mapping[str, Any] = field(default_factory=dict)  # as written, for /config and debug

    @property
    def supported(self) -> bool:
        return self.prober in PROBERS


@dataclass(frozen=True, slots=True)
class Allow:
    """Targets /probe may touch.  A name on `names` (exact, or `*.suffix`) is allowed as such;
    any other target is allowed only when the address it resolves to is in `networks`."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    names: tuple[str, ...] = ()

    def name_allowed(self, host: str) -> bool:
        name = host.rstrip(".").lower()
        for pattern in self.names:
            if pattern.startswith("*."):
                if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                    return True
            elif name == pattern:
                return True
        return False

    def address_allowed(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:a.b.c.d reaches a.b.c.d
        return any(ip.version == n.version and ip in n for n in self.networks)


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: str
    password_file: str
    password: str  # read from password_file at load time


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_file: str
    key_file: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_probes_in_flight: int = 64
    max_connections: int = 256
    max_request_bytes: int = 16 * 1024  # a request head (and any body) larger is refused


@dataclass(frozen=True, slots=True)
class Alerts:
    """Per-monitor thresholds (their state machine runs with the monitors)."""

    loss_percent: float | None = None  # loss above this…
    rounds: int = 1  # …for this many rounds in a row
    median_ms: float | None = None  # median RTT above this
    webhook: str | None = None  # POSTed a JSON document on a state change


@dataclass(frozen=True, slots=True)
class Monitor:
    """A continuous probe: every `interval` seconds a round of `pings` probes spread evenly
    over the interval (SmokePing: 20 per 300 s), with a jittered start."""

    name: str
    target: str
    module: str
    interval: float = 300.0
    pings: int = 20
    alerts: Alerts = Alerts()


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    raw_days: float = 14.0
    rollup_days: float = 400.0


@dataclass(frozen=True, slots=True)
class Config:
    modules: Mapping[str, Module]
    allow: Allow | None = None
    basic_auth: BasicAuth | None = None
    tls: TlsFiles | None = None
    limits: Limits = Limits()
    monitors: tuple[Monitor, ...] = ()
    history: HistoryConfig = HistoryConfig()
    source: str = "built-in default"
    text: str = ""  # the file as read (for /config, passwords never in it: they are in files)
    warnings: tuple[str, ...] = ()


# -- reading --------------------------------------------------------------------------------------


class _Section:
    """A mapping being read: each key taken once; what is left over is an unknown key."""

    def __init__(self, value: object, where: str) -> None:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            the_file = Word(N_("the file"))  # the top level has no key to name
            raise ConfigError(
                "{where}: expected a mapping, got {kind}",
                where=where or the_file,
                kind=_kind(value),
            )
        self.data: dict[str, Any] = {str(k): v for k, v in value.items()}
        self.where = where
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key)

    def text(self, key: str, default: str) -> str:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(
                "{where}: expected a string, got {kind}", where=self.at(key), kind=_kind(value)
            )
        return str(value)

    def opt_str(self, key: str) -> str | None:
        return self.text(key, "") or None

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(
                "{where}: expected true or false, got {value!r}", where=self.at(key), value=value
            )
        return value

    def whole(self, key: str, default: int, low: int | None = None, high: int | None = None) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                "{where}: expected a whole number, got {value!r}", where=self.at(key), value=value
            )
        if low is not None and value < low:
            raise ConfigError(
                "{where}: must be at least {low}, got {value}",
                where=self.at(key),
                low=low,
                value=value,
            )
        if high is not None and value > high:
            raise ConfigError(
                "{where}: must be at most {high}, got {value}",
                where=self.at(key),
                high=high,
                value=value,
            )
        return value

    def number(self, key: str, default: float | None, low: float = 0.0) -> float | None:
        value = self.raw(key)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ConfigError(
                "{where}: expected a number, got {value!r}", where=self.at(key), value=value
            )
        if value < low:
            raise ConfigError(
                "{where}: must be at least {low:g}, got {value}",
                where=self.at(key),
                low=low,
                value=value,
            )
        return float(value)

    def duration(self, key: str, default: float, positive: bool = False) -> float:
        value = self.raw(key)
        if value is None:
            return default
        try:
            seconds = parse_duration(str(value)) if not isinstance(value, bool) else -1.0
        except ValueError:
            # parse_duration's own words, said as a template here
            if not str(value).strip():
                raise ConfigError("{where}: empty duration", where=self.at(key)) from None
            raise ConfigError(
                "{where}: invalid duration {text!r} (use e.g. 5s, 1m30s, 500ms)",
                where=self.at(key),
                text=str(value),
            ) from None
        if seconds < 0 or (positive and seconds == 0):
            raise ConfigError(
                "{where}: must be a positive duration, got {value!r}",
                where=self.at(key),
                value=value,
            )
        return seconds

    def seq(self, key: str) -> list[Any]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(
                "{where}: expected a list, got {kind}", where=self.at(key), kind=_kind(value)
            )
        return value

    def ints(self, key: str, low: int, high: int, what: Word) -> tuple[int, ...]:
        """A list of whole numbers within [low, high], each named `what` when it is not."""
        out = []
        for i, value in enumerate(self.seq(key)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(
                    "{where}[{i}]: not {what}: {value!r}",
                    where=self.at(key),
                    i=i,
                    what=what,
                    value=value,
                )
            out.append(value)
        return tuple(out)

    def regexps(self, key: str) -> tuple[re.Pattern[str], ...]:
        return tuple(_regexp(str(v), f"{self.at(key)}[{i}]") for i, v in enumerate(self.seq(key)))

    def section(self, key: str) -> _Section:
        return _Section(self.raw(key), self.at(key))

    def ip_protocol(self) -> str:
        value = self.text("preferred_ip_protocol", "ip6")
        if value not in ("ip4", "ip6"):
            # blackbox treats anything but ip4 as ip6; naming the mistake is kinder
            raise ConfigError(
                "{where}: expected ip4 or ip6, got {value!r}",
                where=self.at("preferred_ip_protocol"),
                value=value,
            )
        return value

    def done(self, known_elsewhere: Sequence[str] = ()) -> None:
        for key in self.data:
            if key not in self.seen and key not in known_elsewhere:
                raise ConfigError("{where}: unknown key", where=self.at(key))


def _kind(value: object) -> str:
    """What a value is, as "got …" names it: a word the command line translates, or its repr."""
    if isinstance(value, dict):
        return Word(N_("a mapping"))
    if isinstance(value, list):
        return Word(N_("a list"))
    if isinstance(value, str):
        return Word(N_("a string"))
    return repr(value)


# Keys of Prometheus's http_client_config (inline in blackbox's http section) that the HTTP
# engine cannot honour: named as "not supported" rather than "unknown".
_HTTP_CLIENT_UNSUPPORTED = (
    "oauth2",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "follow_redirects_max",
    "skip_resolve_phase_with_proxy",
    "compression",
    "body",
    "http_headers",
)


def _unsupported(sec: _Section, keys: Sequence[str], why: Word) -> None:
    for key in keys:
        if sec.has(key) and sec.data[key] not in (None, "", False, [], {}):
            raise ConfigError(
                "{where}: not supported by netladder ({why})", where=sec.at(key), why=why
            )
        sec.seen.add(key)


def _tls_config(sec: _Section) -> TlsConfig:
    tls = TlsConfig(
        insecure_skip_verify=sec.flag("insecure_skip_verify", False),
        ca_file=sec.opt_str("ca_file"),
        server_name=sec.opt_str("server_name"),
    )
    _unsupported(
        sec,
        ("cert_file", "key_file", "min_version", "max_version", "cert", "key", "ca"),
        Word(N_("client certificates and version pins are not implemented")),
    )
    sec.done()
    return tls


def _header_matches(sec: _Section, key: str) -> tuple[HeaderMatch, ...]:
    out = []
    for i, item in enumerate(sec.seq(key)):
        hm = _Section(item, f"{sec.at(key)}[{i}]")
        header = hm.text("header", "")
        if not header:
            raise ConfigError("{where}: must be set", where=hm.at("header"))
        out.append(
            HeaderMatch(
                header,
                _regexp(hm.text("regexp", ""), hm.at("regexp")),
                hm.flag("allow_missing", False),
            )
        )
        hm.done()
    return tuple(out)


def _read_secret(path: str, where: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as exc:
        raise ConfigError("{where}: cannot read {path}", where=where, path=path).because(
            exc.strerror or str(exc)
        ) from None


def _authorization(sec: _Section) -> str | None:
    import base64

    header: str | None = None
    if sec.has("basic_auth"):
        ba = sec.section("basic_auth")
        user = ba.text("username", "")
        password = ba.text("password", "")
        pfile = ba.opt_str("password_file")
        if pfile:
            password = _read_secret(pfile, ba.at("password_file"))
        ba.done()
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        header = f"Basic {token}"
    token_value = sec.opt_str("bearer_token")
    token_file = sec.opt_str("bearer_token_file")
    if token_file:
        token_value = _read_secret(token_file, sec.at("bearer_token_file"))
    if sec.has("authorization"):
        au = sec.section("authorization")
        kind = au.text("type", "Bearer")
        cred = au.text("credentials", "")
        cfile = au.opt_str("credentials_file")
        if cfile:
            cred = _read_secret(cfile, au.at("credentials_file"))
        au.done()
        header = f"{kind} {cred}"
    elif token_value:
        header = f"Bearer {token_value}"
    return header


def _http(sec: _Section) -> HttpModule:
    codes = sec.ints("valid_status_codes", 100, 599, Word(N_("a status code")))
    headers = sec.raw("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError("{where}: expected a mapping of header: value", where=sec.at("headers"))
    from netladder.proto.http1 import is_token

    for name in headers:
        if not is_token(str(name)):
            raise ConfigError(
                "{where}: {name!r} is not a valid header name", where=sec.at("headers"), name=name
            )
    method = sec.text("method", "GET").upper()
    if not is_token(method):
        raise ConfigError(
            "{where}: {method!r} is not a valid method", where=sec.at("method"), method=method
        )
    follow = sec.flag("follow_redirects", True)
    no_follow = sec.raw("no_follow_redirects")
    if isinstance(no_follow, bool):
        follow = not no_follow  # blackbox's deprecated spelling
    limit = sec.raw("body_size_limit")
    module = HttpModule(
        valid_status_codes=codes,
        valid_http_versions=tuple(str(v) for v in sec.seq("valid_http_versions")),
        preferred_ip_protocol=sec.ip_protocol(),
        ip_protocol_fallback=sec.flag("ip_protocol_fallback", True),
        fail_if_ssl=sec.flag("fail_if_ssl", False),
        fail_if_not_ssl=sec.flag("fail_if_not_ssl", False),
        method=method,
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        fail_if_body_matches_regexp=sec.regexps("fail_if_body_matches_regexp"),
        fail_if_body_not_matches_regexp=sec.regexps("fail_if_body_not_matches_regexp"),
        fail_if_header_matches=_header_matches(sec, "fail_if_header_matches"),
        fail_if_header_not_matches=_header_matches(sec, "fail_if_header_not_matches"),
        follow_redirects=follow,
        enable_http2=sec.flag("enable_http2", True),
        tls_config=_tls_config(sec.section("tls_config")),
        body_size_limit=_bytes(limit, sec.at("body_size_limit")) if limit is not None else 0,
        authorization=_authorization(sec),
    )
    sec.seen.update(("bearer_token", "bearer_token_file", "basic_auth", "authorization"))
    _unsupported(sec, _HTTP_CLIENT_UNSUPPORTED, Word(N_("the HTTP engine has no such option yet")))
    sec.seen.add("enable_http3")  # blackbox 0.26+; false is the only value we honour
    if sec.data.get("enable_http3"):
        raise ConfigError(
            "{where}: not supported by netladder (no HTTP/3)", where=sec.at("enable_http3")
        )
    sec.done()
    return module


_BYTES = re.compile(r"^\s*([0-9]+)\s*([KMGT]i?B|B)?\s*$")


def _bytes(value: object, where: str) -> int:
    m = _BYTES.match(str(value))
    if not m:
        raise ConfigError(
            "{where}: expected a size such as 64KiB or 1MB, got {value!r}", where=where, value=value
        )
    unit = (m.group(2) or "B").replace("i", "")
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[unit]
    return int(m.group(1)) * scale


def _tcp(sec: _Section) -> TcpModule:
    steps = []
    for i, item in enumerate(sec.seq("query_response")):
        qr = _Section(item, f"{sec.at('query_response')}[{i}]")
        expect = qr.opt_str("expect")
        steps.append(
            QueryResponse(
                _regexp(expect, qr.at("expect")) if expect else None,
                qr.text("send", ""),
                qr.flag("starttls", False),
            )
        )
        _unsupported(qr, ("labels",), Word(N_("probe_expect_info labels are not implemented")))
        qr.done()
    module = TcpModule(
        preferred_ip_protocol=sec.ip_protocol(),
        ip_protocol_fallback=sec.flag("ip_protocol_fallback", True),
        source_ip_address=sec.opt_str("source_ip_address"),
        query_response=tuple(steps),
        tls=sec.flag("tls", False),
        tls_config=_tls_config(sec.section("tls_config")),
    )
    if module.source_ip_address:
        raise ConfigError(
            "{where}: not supported by netladder yet", where=sec.at("source_ip_address")
        )
    sec.done()
    return module


def _icmp(sec: _Section) -> IcmpModule:
    ttl = sec.raw("ttl")
    if ttl is not None and not isinstance(ttl, bool) and isinstance(ttl, int):
        # blackbox's own words (config/config.go)
        if ttl < 0:
            raise ConfigError('{where}: "ttl" cannot be negative', where=sec.at("ttl"))
        if ttl > 255:
            raise ConfigError('{where}: "ttl" cannot exceed 255', where=sec.at("ttl"))
    sec.seen.discard("ttl")
    module = IcmpModule(
        preferred_ip_protocol=sec.ip_protocol(),
        ip_protocol_fallback=sec.flag("ip_protocol_fallback", True),
        source_ip_address=sec.opt_str("source_ip_address"),
        payload_size=sec.whole("payload_size", 0, 0, 65_000),
        dont_fragment=sec.flag("dont_fragment", False),
        ttl=sec.whole("ttl", 64, 0, 255) or 64,
        packets=sec.whole("packets", 1, 1, 1000),
        interval=sec.duration("interval", 1.0, positive=True),
    )
    if module.source_ip_address:
        raise ConfigError(
            "{where}: not supported by netladder yet", where=sec.at("source_ip_address")
        )
    if module.dont_fragment:
        raise ConfigError("{where}: not supported by netladder yet", where=sec.at("dont_fragment"))
    sec.done()
    return module


def _rr_validator(sec: _Section) -> DnsRRValidator:
    v = DnsRRValidator(
        sec.regexps("fail_if_matches_regexp"),
        sec.regexps("fail_if_all_match_regexp"),
        sec.regexps("fail_if_not_matches_regexp"),
        sec.regexps("fail_if_none_matches_regexp"),
    )
    sec.done()
    return v


_RCODE_NAMES = (
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "BADSIG",
    "BADVERS",
    "BADKEY",
    "BADTIME",
    "BADMODE",
    "BADNAME",
    "BADALG",
    "BADTRUNC",
    "BADCOOKIE",
)


def _dns(sec: _Section) -> DnsModule:
    import dns.rdataclass
    import dns.rdatatype

    name = sec.text("query_name", "")
    if not name:
        raise ConfigError(
            "{where}: query name must be set for DNS module", where=sec.at("query_name")
        )
    qclass = sec.text("query_class", "IN").upper()
    try:
        dns.rdataclass.from_text(qclass)
    except Exception:
        raise ConfigError(
            "{where}: query class '{qclass}' is not valid",
            where=sec.at("query_class"),
            qclass=qclass,
        ) from None
    qtype = sec.text("query_type", "ANY").upper()
    try:
        dns.rdatatype.from_text(qtype)
    except Exception:
        raise ConfigError(
            "{where}: query type '{qtype}' is not valid", where=sec.at("query_type"), qtype=qtype
        ) from None
    transport = sec.text("transport_protocol", "udp")
    if transport not in ("udp", "tcp"):
        raise ConfigError(
            "{where}: expected udp or tcp, got {value!r}",
            where=sec.at("transport_protocol"),
            value=transport,
        )
    rcodes = tuple(str(r).upper() for r in sec.seq("valid_rcodes")) or ("NOERROR",)
    for r in rcodes:
        if r not in _RCODE_NAMES:
            raise ConfigError(
                "{where}: unknown rcode {rcode!r}", where=sec.at("valid_rcodes"), rcode=r
            )
    module = DnsModule(
        query_name=name,
        preferred_ip_protocol=sec.ip_protocol(),
        ip_protocol_fallback=sec.flag("ip_protocol_fallback", True),
        source_ip_address=sec.opt_str("source_ip_address"),
        transport_protocol=transport,
        query_class=qclass,
        query_type=qtype,
        recursion_desired=sec.flag("recursion_desired", True),
        valid_rcodes=rcodes,
        validate_answer_rrs=_rr_validator(sec.section("validate_answer_rrs")),
        validate_authority_rrs=_rr_validator(sec.section("validate_authority_rrs")),
        validate_additional_rrs=_rr_validator(sec.section("validate_additional_rrs")),
    )
    _unsupported(sec, ("dns_over_tls", "tls_config"), Word(N_("DNS over TLS is not implemented")))
    if module.source_ip_address:
        raise ConfigError(
            "{where}: not supported by netladder yet", where=sec.at("source_ip_address")
        )
    sec.done()
    return module


def _udp(sec: _Section) -> UdpModule:
    expect = sec.opt_str("expect")
    module = UdpModule(
        preferred_ip_protocol=sec.ip_protocol(),
        ip_protocol_fallback=sec.flag("ip_protocol_fallback", True),
        send=sec.text("send", ""),
        expect=_regexp(expect, sec.at("expect")) if expect else None,
    )
    sec.done()
    return module


def _stun(sec: _Section) -> StunModule:
    module = StunModule(sec.ip_protocol(), sec.flag("ip_protocol_fallback", True))
    sec.done()
    return module


def _trace(sec: _Section) -> TraceModule:
    protocol = sec.text("protocol", "icmp")
    if protocol not in ("udp", "icmp", "tcp"):
        raise ConfigError(
            "{where}: expected udp, icmp or tcp, got {value!r}",
            where=sec.at("protocol"),
            value=protocol,
        )
    port = sec.raw("port")
    sec.seen.discard("port")
    module = TraceModule(
        preferred_ip_protocol=sec.ip_protocol(),
        ip_protocol_fallback=sec.flag("ip_protocol_fallback", True),
        protocol=protocol,
        port=sec.whole("port", 0, 1, 65535) if port is not None else None,
        max_hops=sec.whole("max_hops", 30, 1, 255),
        queries=sec.whole("queries", 1, 1, 10),
        wait=sec.duration("wait", 2.0, positive=True),
    )
    sec.done()
    return module


def _diagnose(sec: _Section) -> DiagnoseModule:
    ports = sec.ints("ports", 1, 65535, Word(N_("a port number")))
    sec.done()
    return DiagnoseModule(ports)


_SECTIONS = {
    "http": _http,
    "tcp": _tcp,
    "icmp": _icmp,
    "udp": _udp,
    "stun": _stun,
    "trace": _trace,
    "diagnose": _diagnose,
}
# blackbox's sections of the probers netladder lacks, with their keys (checked all the same)
_FOREIGN_SECTIONS = {
    "grpc": ("service", "tls", "tls_config", "ip_protocol_fallback", "preferred_ip_protocol"),
    "websocket": ("ip_protocol_fallback", "preferred_ip_protocol", "query_response"),
    "unix": ("query_response",),
}


def _module(name: str, value: object, warnings: list[str]) -> Module:
    sec = _Section(value, f"modules.{name}")
    prober = sec.text("prober", "")
    if not prober:
        raise ConfigError(
            "{where}: must be set (one of {probers})",
            where=sec.at("prober"),
            probers=", ".join(PROBERS),
        )
    if prober not in PROBERS and prober not in UNSUPPORTED_PROBERS:
        raise ConfigError(
            "{where}: unknown prober {prober!r} (one of {probers})",
            where=sec.at("prober"),
            prober=prober,
            probers=", ".join(PROBERS),
        )
    timeout = sec.duration("timeout", 0.0)
    parts: dict[str, Any] = {}
    for key, reader in _SECTIONS.items():
        if sec.has(key):
            parts[key] = reader(sec.section(key))
    if sec.has("dns"):
        parts["dns"] = _dns(sec.section("dns"))
    elif prober == "dns":
        raise ConfigError(
            "{where}: query name must be set for DNS module", where=sec.at("dns.query_name")
        )
    for key, known in _FOREIGN_SECTIONS.items():
        if sec.has(key):
            foreign = sec.section(key)
            foreign.seen.update(known)
            foreign.done()
    if prober in UNSUPPORTED_PROBERS:
        warnings.append(
            f"modules.{name}: prober {prober!r} is not supported by netladder; "
            "/probe answers 400 for this module"
        )
    sec.done()
    return Module(name, prober, timeout, raw=dict(sec.data), **parts)


def _allow(sec: _Section) -> Allow:
    networks = []
    for i, text in enumerate(sec.seq("networks")):
        try:
            networks.append(ipaddress.ip_network(str(text), strict=False))
        except ValueError:
            raise ConfigError(
                "{where}[{i}]: not a network: {text!r}", where=sec.at("networks"), i=i, text=text
            ) from None
    names = []
    for i, text in enumerate(sec.seq("names")):
        name = str(text).rstrip(".").lower()
        bare = name[2:] if name.startswith("*.") else name
        if not bare or not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_-]+)*", bare):
            raise ConfigError(
                "{where}[{i}]: not a host name or *.suffix: {text!r}",
                where=sec.at("names"),
                i=i,
                text=text,
            )
        names.append(name)
    sec.done()
    return Allow(tuple(networks), tuple(names))


def _monitors(items: list[Any], modules: Mapping[str, Module]) -> tuple[Monitor, ...]:
    out: list[Monitor] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        sec = _Section(item, f"monitors[{i}]")
        name = sec.text("name", "")
        if not name or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ConfigError(
                "{where}: a name of letters, digits, '_', '.', '-'", where=sec.at("name")
            )
        if name in seen:
            raise ConfigError(
                "{where}: {name!r} is used by another monitor", where=sec.at("name"), name=name
            )
        seen.add(name)
        target = sec.text("target", "")
        if not target:
            raise ConfigError("{where}: must be set", where=sec.at("target"))
        module = sec.text("module", "icmp")
        if module not in modules:
            raise ConfigError(
                "{where}: unknown module {module!r}", where=sec.at("module"), module=module
            )
        if not modules[module].supported:
            raise ConfigError(
                "{where}: module {module!r} has an unsupported prober",
                where=sec.at("module"),
                module=module,
            )
        interval = sec.duration("interval", 300.0, positive=True)
        pings = sec.whole("pings", 20, 1, 1000)
        if interval / pings < 0.01:
            raise ConfigError(
                "{where}: {pings} in {interval:g} s is more than 100/s",
                where=sec.at("pings"),
                pings=pings,
                interval=interval,
            )
        al = sec.section("alerts")
        alerts = Alerts(
            loss_percent=al.number("loss_percent", None),
            rounds=al.whole("rounds", 1, 1, 1000),
            median_ms=al.number("median_ms", None),
            webhook=al.opt_str("webhook"),
        )
        if alerts.loss_percent is not None and alerts.loss_percent > 100:
            raise ConfigError("{where}: must be at most 100", where=al.at("loss_percent"))
        if alerts.webhook and not alerts.webhook.startswith(("http://", "https://")):
            raise ConfigError(
                "{where}: expected an http:// or https:// URL", where=al.at("webhook")
            )
        al.done()
        sec.done()
        out.append(Monitor(name, target, module, interval, pings, alerts))
    return tuple(out)


def parse(text: str, source: str = "built-in default") -> Config:
    """The configuration in `text`; ConfigError (one line naming the key) when it is bad."""
    import yaml

    try:
        data = yaml.load(text, Loader=_strict_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is None:
            raise ConfigError(problem) from None  # YAML's own words, as they are
        raise ConfigError("line {line}: {problem}", line=mark.line + 1, problem=problem) from None
    top = _Section(data, "")
    modules_raw = top.raw("modules")
    if modules_raw is None:
        modules_raw = {}
    if not isinstance(modules_raw, dict):
        raise ConfigError(
            "{where}: expected a mapping, got {kind}", where="modules", kind=_kind(modules_raw)
        )
    warnings: list[str] = []
    modules = {str(k): _module(str(k), v, warnings) for k, v in modules_raw.items()}
    allow = _allow(top.section("allow")) if top.has("allow") else None
    auth = None
    if top.has("basic_auth"):
        ba = top.section("basic_auth")
        user = ba.text("username", "")
        pfile = ba.text("password_file", "")
        if not user or not pfile:
            raise ConfigError("basic_auth: needs username and password_file")
        if ":" in user:
            raise ConfigError("basic_auth.username: must not contain ':' (RFC 7617 §2)")
        password = _read_secret(pfile, ba.at("password_file"))
        if not password:
            raise ConfigError("basic_auth.password_file: {path} is empty", path=pfile)
        ba.done()
        auth = BasicAuth(user, pfile, password)
    tls = None
    if top.has("tls"):
        t = top.section("tls")
        cert, key = t.text("cert_file", ""), t.text("key_file", "")
        if not cert or not key:
            raise ConfigError("tls: needs cert_file and key_file")
        t.done()
        tls = TlsFiles(cert, key)
    lim = top.section("limits")
    limits = Limits(
        max_probes_in_flight=lim.whole("max_probes_in_flight", 64, 1, 100_000),
        max_connections=lim.whole("max_connections", 256, 1, 100_000),
        max_request_bytes=lim.whole("max_request_bytes", 16 * 1024, 1024, 1 << 20),
    )
    lim.done()
    monitors = _monitors(top.seq("monitors"), modules)
    hist = top.section("history")
    history = HistoryConfig(
        raw_days=hist.number("raw_days", 14.0, 1.0) or 14.0,
        rollup_days=hist.number("rollup_days", 400.0, 1.0) or 400.0,
    )
    hist.done()
    top.done()
    return Config(
        modules, allow, auth, tls, limits, monitors, history, source, text, tuple(warnings)
    )


def load(path: str | None) -> Config:
    """The file at `path`, or the built-in default; ConfigError names the file and the key."""
    if path is None:
        return parse(DEFAULT_CONFIG_TEXT)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError("config {path}: cannot read it", path=path).because(
            exc.strerror or str(exc)
        ) from None
    except UnicodeDecodeError:
        raise ConfigError("config {path}: not UTF-8 text", path=path) from None
    try:
        return parse(text, path)
    except ConfigError as exc:  # the key's error, translated with its own template
        raise ConfigError("config {path}: {problem}", path=path, problem=exc) from None


def _strict_loader() -> type[Any]:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """yaml.v3 (blackbox's decoder) refuses a key defined twice; so does this."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"mapping key {key!r} already defined", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return StrictLoader
