"""Names and addresses: DNS resolution with timing, the system resolver beside it, and the
public address from HTTP echo and STUN.

The programmatic API (async, results are frozen dataclasses):

- `netladder.names.resolve.resolve(name, rdtype, ...)` -> `Resolution`
- `netladder.names.resolve.compare(name, ...)` -> `Comparison`
- `netladder.names.myip.discover(http, stun, ...)` -> `MyIp`

dnspython is imported only when a query is made, never at import time of this package.
"""
