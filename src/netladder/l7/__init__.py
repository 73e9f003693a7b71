"""L7: the HTTP check (per-phase timing, redirects, TLS details), the response lint and the
status-code guide.  Import the submodules directly; this package imports nothing heavy.

- `netladder.l7.client`: `http_check(url, HttpOptions) -> HttpCheck`, `fetch(url) -> Hop`
- `netladder.l7.lint`: `RULES`, `lint(Exchange) -> tuple[Finding, ...]`
- `netladder.l7.codes`: `CODES`, `API_CODES`
- `netladder.l7.tlsinfo`: TLS details (`TlsInfo`) and RFC 6125 name matching
"""
