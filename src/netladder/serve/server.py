"""The exporter's HTTP side: blackbox_exporter's endpoints (main.go and prober/handler.go of
version 0.23) on asyncio streams, spoken with the project's own HTTP/1.1 codec (l7/http1.py).

    /probe      target, module (default http_2xx), hostname, debug=true
    /metrics    the exporter itself: reload status, build info, probes in flight, durations
    /-/healthy  200 Healthy
    /-/reload   POST: reload the configuration (SIGHUP does the same); a bad file keeps the
                running configuration
    /config     the running configuration (secrets shown as <secret>)
    /logs?id=N  the debug output of one of the last 100 probes; `/probes` lists them
    /           the dashboard (monitors, their state, sparklines); /monitor/NAME its graphs
    /api/v1/monitors, /api/v1/monitors/NAME/rounds?from=&to=   the same as JSON
    /api/v1/diagnose?target=T[&port=P]   the ladder from this vantage point (the agent API)

Safety: every request head (and body) is bounded by limits.max_request_bytes, slow heads are
cut after HEAD_TIMEOUT, connections beyond limits.max_connections are refused with 503, probes
beyond limits.max_probes_in_flight wait (at most their own timeout, then 503), the allowlist
turns a target outside it into 403 before any packet is sent to it, and basic auth (when
configured) guards every endpoint.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from netladder import __version__
from netladder.proto import http1
from netladder.serve.config import Config, ConfigError, Module, load
from netladder.serve.metrics import CONTENT_TYPE, Registry
from netladder.serve.probers import Probe, Refused, run_probe

__all__ = ["Exporter", "Response", "serve", "probe_timeout"]

HEAD_TIMEOUT = 10.0  # seconds for a whole request head to arrive (slow-loris bound)
IDLE_TIMEOUT = 120.0  # a kept-alive connection with no new request is closed
HISTORY = 100  # recent probes kept for / and /logs (blackbox keeps 100)
INTERNAL_LIMIT = 64 << 20  # bytes of a request from the main process of --workers (a reload)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = TEXT
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self, head_only: bool = False, close: bool = False) -> bytes:
        reason = _reason(self.status)
        fields: list[tuple[str, str]] = []
        if self.content_type:
            fields.append(("Content-Type", self.content_type))
        fields.append(("Date", _http_date()))
        fields.extend(self.headers)
        if close:
            fields.append(("Connection", "close"))
        return http1.build_response(self.status, reason, fields, self.body, head_only=head_only)


_REASONS: dict[int, str] = {}


def _reason(status: int) -> str:
    """The status's reason phrase (http.HTTPStatus's), looked up once per status code."""
    reason = _REASONS.get(status)
    if reason is None:
        from http import HTTPStatus

        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        _REASONS[status] = reason
    return reason


_DATE: list[Any] = [0, ""]  # (second, its IMF-fixdate): one formatdate per second, not per reply


def _http_date() -> str:
    now = int(time.time())
    if _DATE[0] != now:
        from email.utils import formatdate

        _DATE[:] = [now, formatdate(now, usegmt=True)]
    return str(_DATE[1])


def _json(status: int, doc: Any) -> Response:
    import json

    return Response(status, json.dumps(doc).encode() + b"\n", "application/json")


def http_error(status: int, message: str) -> Response:
    """What Go's http.Error writes: the message and a newline, as plain text, nosniff."""
    return Response(
        status, (message + "\n").encode(), TEXT, (("X-Content-Type-Options", "nosniff"),)
    )


def probe_timeout(header: str | None, module: Module, offset: float) -> float:
    """blackbox's getTimeout (prober/handler.go): the scrape's timeout (absent or 0: 120 s)
    minus the offset, unless the module's own timeout is set and smaller — or the difference is
    negative.  ValueError (→ 500) for a header that is not a number."""
    seconds = 0.0
    if header:
        seconds = _go_parse_float(header)
    if seconds == 0:
        seconds = 120.0
    most = seconds - offset
    if (0 < module.timeout < most) or most < 0:
        return module.timeout
    return most


def _go_parse_float(text: str) -> float:
    """strconv.ParseFloat's accepted forms, and its error text for the rest."""
    import math

    bad = ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    if not text.isascii() or text.strip() != text or "_" in text:
        raise bad
    try:
        value = float(text)
    except ValueError:
        raise bad from None
    if math.isinf(value) and text.lstrip("+-").lower() not in ("inf", "infinity"):
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": value out of range')
    return value


@dataclass
class _Recent:
    """A recent probe, kept as data: its debug text is rendered only when someone asks."""

    id: int
    probe: Probe
    success: bool
    at: float = field(default_factory=time.time)

    @property
    def module(self) -> str:
        return self.probe.module.name

    @property
    def target(self) -> str:
        return self.probe.target

    @property
    def debug(self) -> str:
        return _debug_output(self.probe)


@dataclass
class Exporter:
    """The exporter's state: the running configuration, its own metrics, recent probes."""

    config: Config
    config_path: str | None
    timeout_offset: float = 0.5
    db_path: str | None = None
    reload_ok: bool = True
    reload_time: float = field(default_factory=time.time)
    started: float = field(default_factory=time.time)
    in_flight: int = 0
    unknown_modules: int = 0
    refused: int = 0
    recent: collections.deque[_Recent] = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY)
    )
    next_id: int = 0
    own: Registry = field(default_factory=Registry)
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    _probe_gate: asyncio.Semaphore | None = None
    monitors: Any = None  # monitors.Monitors, once serving
    history: Any = None  # history.History, once serving
    alerts: Any = None  # alerts.Alerts, once serving
    # --workers (serve/workers.py): how many processes serve /probe, this one's index (0: the
    # main process), the main process's pool of the others, and in a worker the pool's
    # directory (where the main process listens for what a worker passes on)
    worker_count: int = 1
    worker_index: int = 0
    pool: Any = None
    worker_of: str | None = None

    def __post_init__(self) -> None:
        self.own.family(
            "netladder_probe_duration_seconds",
            "Duration of the probes served, by module",
            "histogram",
            ("module",),
            DURATION_BUCKETS,
        )
        self.own.family(
            "netladder_probes_total",
            "Probes served, by module and result",
            "counter",
            ("module", "result"),
        )

    # -- configuration --------------------------------------------------------------------------

    def reload(self) -> str | None:
        """Read the configuration file again; on error keep the running one. The error, or None."""
        try:
            config = load(self.config_path)
        except ConfigError as exc:
            self.reload_ok = False
            self.log(f"netladder serve: reload failed, keeping the running configuration: {exc}")
            return str(exc)
        self.use(config)
        return None

    def use(self, config: Config) -> None:
        """Run `config` from now on (a reload that read it, or a worker told by its main
        process)."""
        self.config = config
        self.reload_ok = True
        self.reload_time = time.time()
        if self.monitors is not None:
            self.monitors.reconcile(config)
        for warning in config.warnings:
            self.log(f"netladder serve: warning: {warning}")
        self.log(f"netladder serve: configuration reloaded ({len(config.modules)} modules)")

    # -- /probe ---------------------------------------------------------------------------------

    async def probe(self, params: Mapping[str, str], headers: http1.RequestHead) -> Response:
        config = self.config
        module_name = params.get("module") or "http_2xx"
        module = config.modules.get(module_name)
        if module is None:
            self.unknown_modules += 1
            return http_error(400, f"Unknown module {_go_quote(module_name)}")
        try:
            timeout = probe_timeout(
                headers.get("X-Prometheus-Scrape-Timeout-Seconds"), module, self.timeout_offset
            )
        except ValueError as exc:
            return http_error(500, f"Failed to parse timeout from Prometheus header: {exc}")
        target = params.get("target", "")
        if not target:
            return http_error(400, "Target parameter is missing")
        if not module.supported:
            return http_error(
                400,
                f"Unknown prober {_go_quote(module.prober)} (blackbox has it; netladder does "
                "not support it)",
            )
        hostname = params.get("hostname") or None
        if module.prober == "http" and hostname:
            for name, value in module.http.headers:
                if name.lower() == "host" and value != hostname:
                    return http_error(
                        400,
                        f"host header defined both in module configuration ({value}) and with "
                        f"URL-parameter 'hostname' ({hostname})",
                    )
        gate = self.gate()
        probe = Probe(module, target, max(timeout, 0.0), hostname, config.allow)
        probe.say("info", "Beginning probe", probe=module.prober, timeout_seconds=timeout)
        started = time.monotonic()
        if gate.locked():
            # Wait for a place at most the probe's own timeout (asyncio.timeout: one timer,
            # where wait_for would wrap the wait in a task of its own).
            try:
                async with asyncio.timeout(max(timeout, 0.001)):
                    await gate.acquire()
            except TimeoutError:
                return http_error(503, "Too many probes in flight; try again later")
        else:
            await gate.acquire()  # a free place is taken at once: nothing to time out
        self.in_flight += 1
        try:
            success = await run_probe(probe)
        except Refused as exc:
            self.refused += 1
            return http_error(403, f"Target {_go_quote(str(exc))} is not allowed by the allowlist")
        finally:
            self.in_flight -= 1
            gate.release()
        duration = time.monotonic() - started
        reg = probe.registry
        reg.gauge("probe_success", "Displays whether or not the probe was a success").set(
            1 if success else 0
        )
        reg.gauge(
            "probe_duration_seconds", "Returns how long the probe took to complete in seconds"
        ).set(duration)
        if success:
            probe.say("info", "Probe succeeded", duration_seconds=duration)
        else:
            probe.say("error", "Probe failed", duration_seconds=duration)
            layer, reason = probe.failure or ("probe", "timeout")
            reg.family(
                "probe_failure_info",
                "Why the probe failed: the layer and a reason from a fixed set",
                labels=("layer", "reason"),
            ).set(1, layer, reason)
        self.own.families["netladder_probe_duration_seconds"].observe(duration, module.name)
        self.own.families["netladder_probes_total"].add(
            1, module.name, "success" if success else "failure"
        )
        self.next_id += 1
        # Every process of a pool numbers its probes apart: the id says whose it is.
        probe_id = self.next_id * self.worker_count + self.worker_index
        self.recent.append(_Recent(probe_id, probe, success))
        if params.get("debug") == "true":
            return Response(200, _debug_output(probe).encode(), "text/plain")
        return Response(200, reg.render().encode(), CONTENT_TYPE)

    def gate(self) -> asyncio.Semaphore:
        """The one bound on probes in flight (/probe and the monitors share it)."""
        if self._probe_gate is None:
            self._probe_gate = asyncio.Semaphore(self.config.limits.max_probes_in_flight)
        return self._probe_gate

    async def start_monitors(self) -> None:
        """Open the history and start the monitors (the alerts with them)."""
        from netladder.serve.alerts import Alerts
        from netladder.serve.history import History
        from netladder.serve.monitors import Monitors

        if self.history is None:
            self.history = History(self.db_path, self.config.history)
        self.alerts = Alerts(log=self.log)
        self.monitors = Monitors(
            self.config, self.gate(), history=self.history, alerts=self.alerts, log=self.log
        )
        self.monitors.start()

    async def stop_monitors(self) -> None:
        if self.monitors is not None:
            await self.monitors.stop()
        if self.alerts is not None:
            await self.alerts.close()
        if self.history is not None:
            self.history.close()

    # -- the other endpoints ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What this process has served, for the main process of a pool (/-/state)."""
        fams = self.own.families
        return {
            "probes_total": [
                [*labels, n] for labels, n in fams["netladder_probes_total"].samples.items()
            ],
            "durations": [
                [labels[0], counts, total, n]
                for labels, (counts, total, n) in fams[
                    "netladder_probe_duration_seconds"
                ].histograms.items()
            ],
            "unknown_modules": self.unknown_modules,
            "refused": self.refused,
            "in_flight": self.in_flight,
            "recent": [[r.id, r.at, r.module, r.target, r.success] for r in self.recent],
        }

    def metrics(self, states: Sequence[Mapping[str, Any]] = ()) -> Response:
        """The exporter's own metrics; `states`: the workers' (a pool's main process)."""
        reg = self.own
        reg.gauge(
            "blackbox_exporter_config_last_reload_successful",
            "Blackbox exporter config loaded successfully.",
        ).set(1 if self.reload_ok else 0)
        reg.gauge(
            "blackbox_exporter_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
        ).set(self.reload_time)
        reg.family(
            "blackbox_module_unknown_total",
            "Count of unknown modules requested by probes",
            "counter",
        ).set(self.unknown_modules + sum(st["unknown_modules"] for st in states))
        reg.family(
            "netladder_probes_refused_total",
            "Probes refused because the target is outside the allowlist",
            "counter",
        ).set(self.refused + sum(st["refused"] for st in states))
        reg.gauge("netladder_probes_in_flight", "Probes running now").set(
            self.in_flight + sum(st["in_flight"] for st in states)
        )
        reg.family(
            "netladder_build_info",
            "A metric with a constant '1' value labeled by version and Python version",
            labels=("version", "python"),
        ).set(1, __version__, ".".join(map(str, sys.version_info[:3])))
        reg.gauge(
            "process_start_time_seconds", "Start time of the process since unix epoch in seconds."
        ).set(self.started)
        text = (_with_workers(reg, states) if states else reg).render()
        if self.monitors is not None:
            text += self.monitors.registry.render()
        return Response(200, text.encode(), CONTENT_TYPE)

    def config_page(self) -> Response:
        import yaml

        data = _redact({"modules": {n: m.raw for n, m in self.config.modules.items()}})
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return Response(200, body.encode(), "text/plain")

    # -- the dashboard and its JSON ------------------------------------------------------------

    def _states(self) -> list[Any]:
        return [] if self.monitors is None else list(self.monitors.states.values())

    def _state(self, name: str) -> Any:
        return None if self.monitors is None else self.monitors.states.get(name)

    def dashboard(self) -> Response:
        from netladder.serve.dashboard import overview

        return Response(200, overview(self._states()), HTML)

    def monitor_page(self, name: str) -> Response:
        from netladder.serve.dashboard import graphs_for, monitor_page

        st = self._state(name)
        if st is None:
            return http_error(404, f"No monitor {_go_quote(name)}")
        now = time.time()
        return Response(200, monitor_page(st, graphs_for(self.history, st, now), now), HTML)

    def probes_page(self) -> Response:
        from netladder.serve.dashboard import probes_page

        return Response(200, probes_page(reversed(self.recent)), HTML)

    def probes_page_of(self, states: Sequence[Mapping[str, Any]]) -> Response:
        """/probes of a pool: the last HISTORY probes of every process, newest first."""
        from netladder.serve.dashboard import probes_page

        seen = [_Seen(r.id, r.at, r.module, r.target, r.success) for r in self.recent]
        seen += [_Seen(*row) for st in states for row in st["recent"]]
        seen.sort(key=lambda r: r.at, reverse=True)
        return Response(200, probes_page(seen[:HISTORY]), HTML)

    def api_monitors(self) -> Response:
        from netladder.serve.api import monitors_doc

        return _json(200, monitors_doc(self._states()))

    def api_rounds(self, name: str, params: Mapping[str, str]) -> Response:
        from netladder.serve.api import BadQuery, rounds_doc

        st = self._state(name)
        if st is None:
            return _json(404, {"error": f"no monitor {name!r}"})
        try:
            doc = rounds_doc(self.history, st, params, time.time())
        except BadQuery as exc:
            return _json(400, {"error": str(exc)})
        return _json(200, doc)

    async def api_diagnose(self, params: Mapping[str, str], ports: Sequence[str]) -> Response:
        from netladder.serve.api import diagnose_doc

        target = params.get("target", "")
        if not target:
            return _json(400, {"error": "the target parameter is missing"})
        status, doc = await diagnose_doc(target, ports, self.config.allow, self.gate())
        if status == 403:
            self.refused += 1
        return _json(status, doc)

    def logs(self, params: Mapping[str, str]) -> Response:
        text = params.get("id", "")
        if not (text.isascii() and text.isdigit()):
            return http_error(500, "Invalid probe id")
        for r in self.recent:
            if r.id == int(text):
                return Response(200, r.debug.encode(), "text/plain")
        return http_error(404, "Probe id not found")

    async def route(self, head: http1.RequestHead, body: bytes, internal: bool = False) -> Response:
        """The answer to one request; `internal`: it came from the main process of a pool,
        on this worker's own Unix socket."""
        path, query, params = _split_target(head.target)
        if internal:
            return self._internal(head, body, path, params)
        auth = self.config.basic_auth
        if auth is not None and not _authorized(
            head.get("Authorization"), auth.username, auth.password
        ):
            return Response(
                401,
                b"Unauthorized\n",
                TEXT,
                (("WWW-Authenticate", 'Basic realm="netladder serve"'),),
            )
        if path == "/probe":
            return await self.probe(params, head)
        if self.worker_of is not None and path not in _WORKER_PATHS:
            return await self._pass_on(head, body)
        if path == "/metrics":
            return self.metrics(await self.pool.states() if self.pool else ())
        if path == "/-/healthy":
            return Response(200, b"Healthy")
        if path == "/-/reload":
            if head.method != "POST":
                return Response(405, b"This endpoint requires a POST request.\n")
            error = self.reload()
            if error is not None:
                return http_error(500, f"failed to reload config: {error}")
            if self.pool is not None:
                await self.pool.reload()
            return Response(200, b"", None)
        if path == "/config":
            return self.config_page()
        if path == "/logs":
            return await self.logs_of(params)
        if path == "/":
            return self.dashboard()
        if path == "/probes":
            if self.pool is not None:
                return self.probes_page_of(await self.pool.states())
            return self.probes_page()
        if path.startswith("/monitor/"):
            return self.monitor_page(path[len("/monitor/") :])
        if path == "/api/v1/monitors":
            return self.api_monitors()
        if path.startswith("/api/v1/monitors/") and path.endswith("/rounds"):
            return self.api_rounds(path[len("/api/v1/monitors/") : -len("/rounds")], params)
        if path == "/api/v1/diagnose":
            ports = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "port"]
            return await self.api_diagnose(params, ports)
        return http_error(404, "404 page not found")

    async def _pass_on(self, head: http1.RequestHead, body: bytes) -> Response:
        """A worker's request for the main process (serve/workers.py): passed on as it came
        (HEAD as GET: this side leaves the content out), its answer passed back."""
        import os

        from netladder.serve.workers import MAIN_SOCKET, PASS_ON_TIMEOUT, unix_request

        assert self.worker_of is not None
        method = "GET" if head.method == "HEAD" else head.method
        main = os.path.join(self.worker_of, MAIN_SOCKET)
        try:
            async with asyncio.timeout(PASS_ON_TIMEOUT):
                answer = await unix_request(main, method, head.target, head.headers, body)
        except (OSError, TimeoutError, http1.ProtocolError) as exc:
            return http_error(502, f"the main process did not answer: {exc}")
        return Response(*answer)

    async def logs_of(self, params: Mapping[str, str]) -> Response:
        """/logs?id=N: a worker's probe is asked of that worker."""
        text = params.get("id", "")
        if self.pool is not None and text.isascii() and text.isdigit():
            if int(text) % self.worker_count != self.worker_index:
                found = await self.pool.logs(int(text))
                return Response(*found) if found else http_error(404, "Probe id not found")
        return self.logs(params)

    def _internal(
        self, head: http1.RequestHead, body: bytes, path: str, params: Mapping[str, str]
    ) -> Response:
        """A worker's answers to its main process."""
        if path == "/-/state":
            return _json(200, self.state())
        if path == "/logs":
            return self.logs(params)
        if path == "/-/reload" and head.method == "POST":
            from netladder.serve.config import parse

            try:  # the main process's running configuration, as it read it
                self.use(parse(body.decode("utf-8"), self.config.source))
            except (ConfigError, UnicodeDecodeError) as exc:
                return http_error(500, str(exc))
            return Response(200, b"", None)
        return http_error(404, "404 page not found")

    def reload_all(self) -> None:
        """SIGHUP: reload, and have the workers reload too."""
        if self.reload() is None and self.pool is not None:
            asyncio.get_running_loop().create_task(self.pool.reload())


# What a worker of --workers answers itself (the probes: no state of the main process's).
_WORKER_PATHS = frozenset({"/-/healthy", "/api/v1/diagnose"})


class _Seen(NamedTuple):
    """A recent probe as /probes lists it (of this process or of a worker)."""

    id: int
    at: float
    module: str
    target: str
    success: bool


def _with_workers(own: Registry, states: Sequence[Mapping[str, Any]]) -> Registry:
    """The main process's own registry with the workers' probe counts and durations added
    (a copy: the workers' figures are asked for anew at each scrape)."""
    from netladder.serve.metrics import Family

    merged = Registry()
    for name, fam in own.families.items():
        merged.families[name] = Family(
            fam.name,
            fam.help,
            fam.type,
            fam.labels,
            dict(fam.samples),
            fam.buckets,
            {k: (list(c), total, n) for k, (c, total, n) in fam.histograms.items()},
        )
    totals = merged.families["netladder_probes_total"]
    durations = merged.families["netladder_probe_duration_seconds"]
    for st in states:
        for module, result, n in st["probes_total"]:
            totals.add(n, module, result)
        for module, counts, total, n in st["durations"]:
            mine, my_total, my_n = durations.histograms.get(
                (module,), ([0] * len(durations.buckets), 0.0, 0)
            )
            summed = [a + b for a, b in zip(mine, counts, strict=True)]
            durations.histograms[(module,)] = (summed, my_total + total, my_n + n)
    return merged


# Prometheus asks for the same few /probe URLs on every scrape: each request-target's path and
# parameters are parsed once.  Only short targets are kept, and at most _TARGETS_KEPT of them, so
# a client sending endless distinct URLs costs a bounded amount of memory.
_TARGETS: dict[str, tuple[str, str, Mapping[str, str]]] = {}
_TARGETS_KEPT = 1024
_TARGET_CACHED_LEN = 2048


def _split_target(target: str) -> tuple[str, str, Mapping[str, str]]:
    """The request-target's decoded path, its raw query, and its parameters (read-only: the
    same mapping answers every request for this target)."""
    found = _TARGETS.get(target)
    if found is not None:
        return found
    parts = urlsplit(target)
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(key, value)  # url.Values.Get: the first value
    found = (unquote(parts.path), parts.query, MappingProxyType(params))
    if len(target) <= _TARGET_CACHED_LEN:
        if len(_TARGETS) >= _TARGETS_KEPT:
            _TARGETS.clear()
        _TARGETS[target] = found
    return found


def _go_quote(text: str) -> str:
    """Go's %q for the printable ASCII texts a query carries."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ord(ch) < 0x10000:
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


_SECRET_KEYS = {"password", "credentials", "bearer_token"}


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("<secret>" if k in _SECRET_KEYS and v else _redact(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _authorized(header: str | None, username: str, password: str) -> bool:
    import base64
    import binascii

    if not header or not header[:6].lower() == "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, given = decoded.partition(":")
    ok_user = hmac.compare_digest(user.encode(), username.encode())
    ok_pass = hmac.compare_digest(given.encode(), password.encode())
    return bool(sep) and ok_user and ok_pass


def _debug_output(probe: Probe) -> str:
    """blackbox's DebugOutput: the probe's log, its metrics and the module's configuration."""
    import yaml

    module = probe.module
    config = yaml.safe_dump(_redact({"prober": module.prober, **module.raw}), sort_keys=False)
    return (
        "Logs for the probe:\n"
        + "".join(line + "\n" for line in probe.log)
        + "\n\n\nMetrics that would have been returned:\n"
        + probe.registry.render()
        + "\n\n\nModule configuration:\n"
        + config
    )


# -- the connection loop --------------------------------------------------------------------------


class _Connections:
    def __init__(self) -> None:
        self.open = 0


async def _read_request(
    reader: asyncio.StreamReader, buf: bytearray, limit: int, first_wait: float
) -> tuple[http1.RequestHead, bytes] | Response | None:
    """The next request on a connection: (head, body), an error Response to send before
    closing, or None when the client closed (or idled out) between requests.  `buf` holds
    what was read past the previous request (a pipelining client sends ahead) and keeps
    what is read past this one."""
    scanner = http1.HeadScanner(request=True, max_head=limit)
    wait = first_wait
    started: float | None = time.monotonic() if buf else None
    while True:
        try:
            end = scanner.feed(buf)
        except http1.ProtocolError as exc:
            if "larger than" in str(exc) or "longer than" in str(exc):
                return http_error(431, "Request Header Fields Too Large")
            return http_error(400, f"Bad Request: {exc}")
        if end is not None:
            break
        try:
            async with asyncio.timeout(wait):
                chunk = await reader.read(4096)
        except TimeoutError:
            return None if not buf else http_error(408, "Request Timeout")
        except ConnectionError:
            return None
        if not chunk:
            return None
        if started is None:
            started = time.monotonic()
        wait = max(HEAD_TIMEOUT - (time.monotonic() - started), 0.001)
        buf += chunk
    try:
        head = http1.parse_request_head(buf[:end])
        length = http1.request_body_length(head)
    except http1.ProtocolError as exc:
        return http_error(400, f"Bad Request: {exc}")
    if length > limit:
        return http_error(413, "Request Entity Too Large")
    del buf[:end]
    try:
        while len(buf) < length:
            async with asyncio.timeout(HEAD_TIMEOUT):
                chunk = await reader.read(length - len(buf))
            if not chunk:
                return None
            buf += chunk
    except (TimeoutError, ConnectionError):
        return None
    body = bytes(buf[:length])
    del buf[:length]
    return head, body


async def _handle(
    exporter: Exporter,
    conns: _Connections,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    internal: bool = False,
) -> None:
    conns.open += 1
    try:
        if conns.open > exporter.config.limits.max_connections:
            writer.write(http_error(503, "Too many connections").encode(close=True))
            await writer.drain()
            return
        wait = HEAD_TIMEOUT
        buf = bytearray()
        while True:
            # From the main process: a reload carries the whole configuration.
            limit = INTERNAL_LIMIT if internal else exporter.config.limits.max_request_bytes
            got = await _read_request(reader, buf, limit, wait)
            if got is None:
                return
            if isinstance(got, Response):
                writer.write(got.encode(close=True))
                await writer.drain()
                return
            head, body = got
            response = await exporter.route(head, body, internal)
            keep = head.keep_alive
            writer.write(response.encode(head_only=head.method == "HEAD", close=not keep))
            await writer.drain()
            if not keep:
                return
            wait = IDLE_TIMEOUT
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        conns.open -= 1
        writer.close()


def _tls_server_context(cert: str, key: str) -> Any:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(
    exporter: Exporter,
    host: str | Sequence[str] | None,
    port: int,
    ready: Callable[[Sequence[tuple[str, int]]], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; SIGHUP reloads the configuration."""
    import concurrent.futures

    from netladder.errors import from_oserror

    loop = asyncio.get_running_loop()
    # ICMP probes and the ladder's scans hold worker threads: size the pool for the bound.
    workers = min(exporter.config.limits.max_probes_in_flight, 32) + 8
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=workers))
    tls = exporter.config.tls
    ssl_ctx = None
    if tls is not None:
        try:
            ssl_ctx = _tls_server_context(tls.cert_file, tls.key_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                "tls: cannot load {cert} / {key}: {error}",
                cert=tls.cert_file,
                key=tls.key_file,
                error=exc,
            ) from None
    conns = _Connections()
    try:
        server = await asyncio.start_server(
            lambda r, w: _handle(exporter, conns, r, w),
            host,
            port,
            ssl=ssl_ctx,
            reuse_address=True,
            reuse_port=exporter.worker_count > 1 or None,  # the workers listen there too
            limit=exporter.config.limits.max_request_bytes,
        )
    except OSError as exc:
        import os

        where = f"{host or '*'}:{port}"
        # asyncio's bind error carries its own sentence in strerror; the errno says it plainly.
        plain = OSError(exc.errno, os.strerror(exc.errno)) if exc.errno else exc
        raise from_oserror(
            plain, "cannot listen on {where}", "choose another address with --listen", where=where
        ) from None
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, exporter.reload_all)
    bound = [s.getsockname()[:2] for s in server.sockets]
    if exporter.worker_count > 1:
        from netladder.serve.workers import Pool

        internal = _Connections()
        exporter.pool = Pool(exporter, exporter.worker_count, bound)
        await exporter.pool.start(lambda r, w: _handle(exporter, internal, r, w))
    try:
        await exporter.start_monitors()
        if ready is not None:
            ready(bound)
        async with server:
            await stop.wait()
    finally:
        await exporter.stop_monitors()
        if exporter.pool is not None:
            await exporter.pool.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        server.close()


async def serve_worker(exporter: Exporter, listen: str) -> None:
    """A worker of a pool (serve/workers.py): serve /probe beside the main process (`listen`:
    its `host|port,…`), and the main process on this worker's own Unix socket, until SIGTERM
    or the main process ends."""
    from netladder.serve.workers import end_with_parent, listening, worker_socket

    assert exporter.worker_of is not None
    end_with_parent()
    internal = worker_socket(exporter.worker_of, exporter.worker_index)
    socks = listening(listen)
    loop = asyncio.get_running_loop()
    tls = exporter.config.tls
    ssl_ctx = _tls_server_context(tls.cert_file, tls.key_file) if tls is not None else None
    conns, inside = _Connections(), _Connections()
    limit = exporter.config.limits.max_request_bytes
    servers = [
        await asyncio.start_server(
            lambda r, w: _handle(exporter, conns, r, w), sock=sock, ssl=ssl_ctx, limit=limit
        )
        for sock in socks
    ]
    servers.append(
        await asyncio.start_unix_server(
            lambda r, w: _handle(exporter, inside, r, w, internal=True), internal
        )
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the main process says when to reload
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()
