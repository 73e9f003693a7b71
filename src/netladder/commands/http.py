"""`netladder http URL`: what the server answers (curl -I), how fast (per phase, per redirect
hop), its TLS details, and whether the answer is well-formed (RFC 9110 lint)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from netladder.args import add_explain, add_json, positive_float, positive_int
from netladder.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError
from netladder.i18n import _
from netladder.output import emit_json

if TYPE_CHECKING:
    from netladder.l7.model import HttpOptions

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help=_("http:// or https:// URL (no scheme: http)"))
    parser.add_argument(
        "-X",
        "--request",
        dest="method",
        metavar="METHOD",
        help=_("request method (default HEAD, as curl -I)"),
    )
    parser.add_argument("--get", action="store_true", help=_("send GET instead of HEAD"))
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'K: V'",
        help=_("extra request header (repeatable; 'K:' removes)"),
    )
    parser.add_argument(
        "-L",
        "--location",
        dest="follow",
        action="store_true",
        help=_("follow redirects, with each hop's status and timings"),
    )
    parser.add_argument(
        "--max-redirs",
        type=positive_int,
        default=20,
        metavar="N",
        help=_("most redirects to follow (default 20)"),
    )
    parser.add_argument("--http2", action="store_true", help=_("offer HTTP/2 by ALPN (https)"))
    parser.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help=_("do not verify the certificate (its details are still shown)"),
    )
    parser.add_argument("--cacert", metavar="FILE", help=_("CA certificates to verify with"))
    parser.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDR",
        help=_("use ADDR for HOST:PORT instead of looking the name up"),
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help=_("limit for the whole check, redirects included (default 10 s)"),
    )
    parser.add_argument(
        "--expect",
        metavar="CODES",
        default="2xx,3xx",
        help=_("status codes that pass, e.g. 200,3xx,400-404 (default 2xx,3xx)"),
    )
    parser.add_argument(
        "--slo",
        metavar="K=MS,...",
        help=_(
            "thresholds in ms: dns, connect, tls, server, transfer, ttfb, "
            "total (total covers every hop)"
        ),
    )
    parser.add_argument(
        "--lint",
        action="store_true",
        help=_(
            "list every RFC 9110 finding (and GET to compare with HEAD); "
            "MUST-level findings fail the check"
        ),
    )
    parser.add_argument("--body", action="store_true", help=_("print the content (up to 1 MiB)"))
    parser.add_argument(
        "--max-body",
        type=positive_int,
        default=None,
        metavar="BYTES",
        help=_("stop reading the content after this many bytes (default 10 MiB)"),
    )
    add_json(parser)
    add_explain(parser)


def _options(args: argparse.Namespace) -> HttpOptions:
    from netladder.l7 import client
    from netladder.l7.model import KEEP_BODY, MAX_BODY, HttpOptions
    from netladder.proto import http1

    try:
        url = client.parse_url(args.url)
        headers = tuple(client.parse_header(h) for h in args.headers)
        resolve = tuple(dict(client.parse_resolve(r) for r in args.resolve).items())
        expect = client.parse_expect(args.expect)
        slo = client.parse_slo(args.slo) if args.slo else ()
    except ValueError as exc:
        raise UsageError("netladder http: {error}", error=exc) from None
    method = "GET" if args.get else "HEAD"
    if args.method:
        method = args.method.upper()
        # RFC 9110 §9.1: a method is a token (ASCII: isalpha() would also take 'GÉT').
        if not http1.is_token(method):
            raise UsageError("netladder http: bad method {method!r}", method=args.method)
    if args.cacert:
        import os

        if not os.path.isfile(args.cacert):
            raise UsageError("netladder http: --cacert {path!r}: no such file", path=args.cacert)
    return HttpOptions(
        url=url.text,
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
        keep_body=KEEP_BODY if args.body else 0,
        max_body=args.max_body or MAX_BODY,
    )


def run(args: argparse.Namespace) -> int:
    from netladder.api import http
    from netladder.net.driver import blocking
    from netladder.render import http as render

    options = _options(args)
    if options.http2 and options.url.startswith("http://"):
        print(render.http2_note(), file=sys.stderr)
    check = blocking(http(options))
    if check.interrupted:
        # SPEC: on Ctrl-C print what was gathered, then exit 130.
        if args.json:
            emit_json(check.partial(), sentence=render.sentence)
        else:
            for line in render.interrupted_lines(check):
                print(line)
            print(render.interrupted_note(), file=sys.stderr)
        return EXIT_INTERRUPTED
    keys: list[str] = []
    if args.explain:
        from netladder.render import explain

        keys = explain.keys_http(check)
    if args.json:
        if args.explain:
            explain.emit_json(check, keys, render.sentence)
        else:
            emit_json(check, sentence=render.sentence)
        return EXIT_OK if check.ok else EXIT_FAIL
    tty = sys.stdout.isatty()
    for line in render.lines(check, body=args.body, lint=args.lint, tty=tty):
        print(line)
    error = render.error_line(check)
    if error is not None:
        print(error, file=sys.stderr)
    if args.explain:
        explain.say(keys)
    return EXIT_OK if check.ok else EXIT_FAIL
