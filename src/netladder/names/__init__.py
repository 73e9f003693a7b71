"""Names and addresses: DNS resolution with timing, the system resolver beside it, and the
public address from HTTP echo and STUN.

- `netladder.api.resolve(ResolveOptions | CompareOptions | ExchangeOptions)` ->
  `Resolution` | `Comparison` | `Exchange` (`names/lookup.py` over `names/session.py`)
- `netladder.names.myip.discover(http, stun, ...)` -> `MyIp`

dnspython is the DNS codec, imported only when a query is made, never at import time of this
package.
"""
