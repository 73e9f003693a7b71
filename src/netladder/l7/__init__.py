"""L7: the HTTP check (per-phase timing, redirects, TLS details), the response lint and the
status-code guide.  Import the submodules directly; this package imports nothing heavy.

- `netladder.l7.model`: `HttpOptions`, `HttpCheck`, `Hop`, `Timings`, `Failure`
- `netladder.l7.session`: `HttpSession`, the sans-IO check (HTTP/1.1 and HTTP/2)
- `netladder.l7.client`: `http_check(options) -> HttpCheck` (`netladder.api.http` calls it)
- `netladder.l7.parse`: URLs and the command line's fields, pure
- `netladder.l7.lint`: `RULES`, `lint(Exchange) -> tuple[Finding, ...]`
- `netladder.l7.codes`: `CODES`, `API_CODES`

The HTTP/1.1 codec is `netladder.proto.http1`; TLS details are `netladder.net.tls.TlsInfo`;
every sentence is in `netladder.render.http`.
"""
