"""`netladder http URL`: what the server answers (curl -I), how fast (per phase, per redirect
hop), its TLS details, and whether the answer is well-formed (RFC 9110 lint)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from netladder.args import add_json, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_OK, UsageError
from netladder.output import emit_json, escape_controls, fmt_ms, paint, to_jsonable

if TYPE_CHECKING:
    from netladder.l7.client import Hop, HttpCheck, HttpOptions, Timings

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="http:// or https:// URL (no scheme: http)")
    parser.add_argument(
        "-X",
        "--request",
        dest="method",
        metavar="METHOD",
        help="request method (default HEAD, as curl -I)",
    )
    parser.add_argument("--get", action="store_true", help="send GET instead of HEAD")
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'K: V'",
        help="extra request header (repeatable; 'K:' removes)",
    )
    parser.add_argument(
        "-L",
        "--location",
        dest="follow",
        action="store_true",
        help="follow redirects, with each hop's status and timings",
    )
    parser.add_argument(
        "--max-redirs",
        type=positive_int,
        default=20,
        metavar="N",
        help="most redirects to follow (default 20)",
    )
    parser.add_argument("--http2", action="store_true", help="offer HTTP/2 by ALPN (https)")
    parser.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="do not verify the certificate (its details are still shown)",
    )
    parser.add_argument("--cacert", metavar="FILE", help="CA certificates to verify with")
    parser.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDR",
        help="use ADDR for HOST:PORT instead of looking the name up",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="limit for the whole check, redirects included (default 10 s)",
    )
    parser.add_argument(
        "--expect",
        metavar="CODES",
        default="2xx,3xx",
        help="status codes that pass, e.g. 200,3xx,400-404 (default 2xx,3xx)",
    )
    parser.add_argument(
        "--slo",
        metavar="K=MS,...",
        help="thresholds in ms: dns, connect, tls, server, transfer, ttfb, "
        "total (total covers every hop)",
    )
    parser.add_argument(
        "--lint",
        action="store_true",
        help="list every RFC 9110 finding (and GET to compare with HEAD); "
        "MUST-level findings fail the check",
    )
    parser.add_argument("--body", action="store_true", help="print the content (up to 1 MiB)")
    parser.add_argument(
        "--max-body",
        type=positive_int,
        default=None,
        metavar="BYTES",
        help="stop reading the content after this many bytes (default 10 MiB)",
    )
    add_json(parser)


def _options(args: argparse.Namespace) -> tuple[str, HttpOptions]:
    from netladder.l7 import client
    from netladder.proto import http1

    try:
        url = client.parse_url(args.url)
        headers = tuple(client.parse_header(h) for h in args.headers)
        resolve = dict(client.parse_resolve(r) for r in args.resolve)
        expect = client.parse_expect(args.expect)
        slo = client.parse_slo(args.slo) if args.slo else {}
    except ValueError as exc:
        raise UsageError(f"netladder http: {exc}") from None
    method = "GET" if args.get else "HEAD"
    if args.method:
        method = args.method.upper()
        # RFC 9110 §9.1: a method is a token (ASCII: isalpha() would also take 'GÉT').
        if not http1.is_token(method):
            raise UsageError(f"netladder http: bad method {args.method!r}")
    if args.cacert:
        import os

        if not os.path.isfile(args.cacert):
            raise UsageError(f"netladder http: --cacert {args.cacert!r}: no such file")
    opts = client.HttpOptions(
        method=method,
        headers=headers,
        follow=args.follow,
        max_redirs=args.max_redirs,
        http2=args.http2,
        insecure=args.insecure,
        cacert=args.cacert,
        resolve=resolve,
        timeout=args.timeout,
        expect=expect,
        slo=slo,
        strict_lint=args.lint,
        keep_body=client.KEEP_BODY if args.body else 0,
        max_body=args.max_body or client.MAX_BODY,
    )
    return url.text, opts


def run(args: argparse.Namespace) -> int:
    import asyncio

    from netladder.l7.client import http_check

    url, opts = _options(args)
    if opts.http2 and url.startswith("http://"):
        print(
            "netladder http: note: --http2 is offered by TLS ALPN; http:// uses HTTP/1.1",
            file=sys.stderr,
        )
    done: list[Hop] = []
    try:
        check = asyncio.run(http_check(url, opts, on_hop=done.append))
    except KeyboardInterrupt:
        # SPEC: on Ctrl-C print what was gathered, then exit 130 (cli.main).
        if args.json:
            emit_json({"url": url, "interrupted": True, "hops": [_hop_doc(h, False) for h in done]})
        else:
            for hop in done:
                _render_head(hop)
            print("interrupted", file=sys.stderr)
        raise
    if args.json:
        emit_json(_document(check, args.body))
    else:
        _render(check, args)
    return EXIT_OK if check.ok else EXIT_FAIL


# -- JSON -----------------------------------------------------------------------------------------


def _hop_doc(hop: Hop, with_body: bool) -> dict[str, Any]:
    doc: dict[str, Any] = to_jsonable(hop)
    doc.pop("body", None)
    if with_body:
        doc["body"] = hop.body.decode("utf-8", "replace")
    doc["headers"] = [[k, v] for k, v in hop.headers]
    return doc


def _document(check: HttpCheck, with_body: bool) -> dict[str, Any]:
    hops = [_hop_doc(hop, with_body) for hop in check.hops]
    final = check.final
    return {
        "url": check.url,
        "method": check.method,
        "ok": check.ok,
        "status": final.status,
        "status_expected": check.status_expected,
        "expect": [_fmt_range(lo, hi) for lo, hi in check.expect],
        "final_url": final.url,
        "redirects": len(check.hops) - 1,
        "total_ms": check.total_ms,
        "redirect_ms": check.redirect_ms,
        "error": to_jsonable(check.error),
        "slo_violations": to_jsonable(check.slo_violations),
        "findings": to_jsonable(final.lint),
        "lint_unchecked": check.lint_unchecked,
        "hops": hops,
    }


def _fmt_range(lo: int, hi: int) -> str:
    if lo % 100 == 0 and hi == lo + 99:
        return f"{lo // 100}xx"
    return str(lo) if lo == hi else f"{lo}-{hi}"


# -- text -----------------------------------------------------------------------------------------

_PHASES = (
    ("DNS lookup", "dns_ms", "namelookup_ms", "cyan"),
    ("TCP connect", "tcp_ms", "connect_ms", "blue"),
    ("TLS handshake", "tls_ms", "pretransfer_ms", "magenta"),
    ("server processing", "server_ms", "starttransfer_ms", "yellow"),
    ("content transfer", "transfer_ms", "total_ms", "green"),
)
_BAR = 40


def _render(check: HttpCheck, args: argparse.Namespace) -> None:
    out = sys.stdout
    for hop in check.hops:
        _render_head(hop)
        if args.body and hop is check.final and hop.body:
            text = hop.body.decode("utf-8", "replace")
            if out.isatty():  # escape sequences in the content must not drive the terminal
                text = escape_controls(text, keep="\n\t")
            out.write(text)
            if not hop.body.endswith(b"\n"):
                out.write("\n")
    final = check.final
    if final.tls is not None:
        _render_tls(final)
    if len(check.hops) > 1:
        print(paint("redirects", "bold"))
        for i, hop in enumerate(check.hops, 1):
            status = "---" if hop.status is None else str(hop.status)
            arrow = (
                f"  → {escape_controls(hop.location)}" if hop.location and hop is not final else ""
            )
            total = hop.timings.total_ms
            took = "" if total is None else f"  {fmt_ms(total)} ms"
            server = hop.timings.server_ms
            detail = "" if server is None else f" (server {fmt_ms(server)} ms)"
            print(f"  {i:>2}  {status}  {hop.url}{arrow}{took}{detail}")
        print()
    _render_timings(final.timings, final.tls is not None)
    if final.status is not None and final.method != "HEAD":
        size = f"{final.body_bytes} bytes" + (
            " (stopped at the read limit)" if final.body_truncated else ""
        )
        hint = "" if args.body else " (--body to print it)"
        print(f"content: {size}{hint}")
    if len(check.hops) > 1:
        print(f"total over {len(check.hops)} requests: {fmt_ms(check.total_ms)} ms")
    _render_lint(final, args.lint, check.lint_unchecked)
    for v in check.slo_violations:
        print(
            paint(
                f"SLO exceeded: {v.key} {fmt_ms(v.actual_ms)} ms > {fmt_ms(v.limit_ms)} ms", "red"
            )
        )
    if check.error is not None:
        print(
            paint(
                f"netladder http: {escape_controls(check.error.message)}", "red", stream=sys.stderr
            ),
            file=sys.stderr,
        )
    elif not check.status_expected:
        expect = ",".join(_fmt_range(lo, hi) for lo, hi in check.expect)
        print(paint(f"FAIL: status {final.status} is not expected ({expect})", "red"))


def _render_head(hop: Hop) -> None:
    """The status line and header fields, as curl -I prints them — with the server's control
    characters (an ESC sequence in the reason phrase or a value) escaped, as `port --banner`
    shows a greeting."""
    if hop.status is None:
        return
    reason = escape_controls(hop.reason)
    line = f"{hop.http_version} {hop.status}" + (f" {reason}" if reason else "")
    print(paint(line, "bold"))
    for name, value in hop.headers:
        print(f"{paint(escape_controls(name), 'cyan')}: {escape_controls(value)}")
    print()


def _render_tls(hop: Hop) -> None:
    from netladder.l7.tlsinfo import describe_validity

    tls = hop.tls
    assert tls is not None
    alpn = f", ALPN {escape_controls(tls.alpn)}" if tls.alpn else ""
    print(f"{paint('TLS', 'bold')}      {tls.version}, {tls.cipher}{alpn}")
    subject = escape_controls(tls.subject) or "(no subject)"
    print(f"{paint('cert', 'bold')}     {subject}  issuer {escape_controls(tls.issuer)}")
    when, bad = describe_validity(tls.not_before, tls.not_after)
    if bad:
        when = paint(when, "red")
    match = "hostname matches" if tls.hostname_match else paint("hostname does NOT match", "red")
    verified = "" if tls.verified else ", not verified (--insecure)"
    sans = escape_controls(", ".join(tls.sans)) or "no SANs"
    print(f"         {sans}; {when}; {match}{verified}")
    print()


def _render_timings(t: Timings, tls: bool) -> None:
    total = t.total_ms
    if total is None:
        reached = [
            (label, getattr(t, attr))
            for label, attr, _, _ in _PHASES
            if getattr(t, attr) is not None and (tls or label != "TLS handshake")
        ]
        if reached:
            print(
                "timings before the failure: "
                + ", ".join(f"{label} {fmt_ms(v)} ms" for label, v in reached)
            )
        return
    scale = _BAR / total if total > 0 else 0.0
    start = 0.0
    for label, attr, _, colour in _PHASES:
        value: float | None = getattr(t, attr)
        if label == "TLS handshake" and not tls:
            print(f"  {label:<18} {'-':>8}")
            continue
        if value is None:
            continue
        offset = round(start * scale)
        width = max(1 if value > 0 else 0, round(value * scale))
        width = min(width, _BAR - min(offset, _BAR - 1)) if width else 0
        bar = " " * min(offset, _BAR - 1) + paint("█" * width, colour)
        print(f"  {label:<18} {fmt_ms(value):>8} ms  |{bar}")
        start += value
    print(f"  {'total':<18} {fmt_ms(total):>8} ms")
    points = [
        ("namelookup", t.namelookup_ms),
        ("connect", t.connect_ms),
        ("appconnect", t.appconnect_ms),
        ("pretransfer", t.pretransfer_ms),
        ("starttransfer", t.starttransfer_ms),
        ("total", t.total_ms),
    ]
    print(
        paint(
            "  "
            + "  ".join(f"{k} {fmt_ms(v)}" for k, v in points if v is not None)
            + " ms (cumulative, as curl -w)",
            "dim",
        )
    )


def _render_lint(hop: Hop, full: bool, unchecked: str | None = None) -> None:
    findings = hop.lint
    if not full:
        if findings:
            first = findings[0]
            more = f" and {len(findings) - 1} more" if len(findings) > 1 else ""
            print(
                paint(
                    f"lint: {escape_controls(first.message)} ({first.level}, "
                    f"{first.section}){more} — --lint for details",
                    "yellow",
                )
            )
        return
    from netladder.l7.lint import RULES

    if hop.status is None or hop.error is not None:
        # fetch() lints only a response that arrived whole: say so, not "no findings".
        print("lint: not run (no complete response to check)")
        return
    checked = len(RULES) - (1 if unchecked else 0)
    if not findings:
        of = f"{checked} of {len(RULES)}" if unchecked else f"{len(RULES)}"
        print(f"lint: no findings ({of} rules checked, RFC 9110 and RFC 9112)")
    else:
        print(paint(f"lint: {len(findings)} finding{'s' if len(findings) != 1 else ''}", "bold"))
        for f in findings:
            colour = "red" if f.failing else "yellow"
            print(
                f"  {paint(f.level, colour):<9} {escape_controls(f.message)}  "
                f"[{f.rule}, {f.section}]"
            )
    if unchecked:
        print(paint(f"lint: head-like-get not checked: {escape_controls(unchecked)}", "yellow"))
