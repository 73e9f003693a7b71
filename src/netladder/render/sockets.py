"""Every line of `netladder sockets`, in ss's shape: what was looked at and what it holds, the
notes, then one row per listening socket and per connection (the queues, the owners)."""

from __future__ import annotations

from collections.abc import Iterator

from netladder.i18n import N_, _, ngettext
from netladder.l4.diag import SocketEntry, SocketsResult
from netladder.output import paint

__all__ = ["TEMPLATES", "lines", "text"]

TEMPLATES: dict[str, str] = {
    "port": N_("port {port}"),
    "all": N_("all {protocols} ports"),
    "and": N_("{first} and {second}"),
    "summary": N_("{what}: {listening}, {connections}{counts}"),
    "counts": N_(" ({counts})"),
    "count": "{count} {state}",
    "note": N_("note: {note}"),
    "nothing": N_("nothing listens on port {port} ({protocols})"),
}
HEADER = ("PROTO", "STATE", "LOCAL", "PEER", "RECV-Q", "SEND-Q", "PROCESS")


def _t(key: str, **params: object) -> str:
    return _(TEMPLATES[key]).format(**params)


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _owners(entry: SocketEntry) -> str:
    if not entry.processes:
        return "-"
    return ",".join(f"{p.name}({p.pid})" for p in entry.processes)


def text(result: SocketsResult) -> str:
    """The whole human output, newline-terminated."""
    return "\n".join(lines(result)) + "\n"


def lines(result: SocketsResult) -> Iterator[str]:
    looked = ""
    for proto in result.protocols:
        looked = _t("and", first=looked, second=proto.upper()) if looked else proto.upper()
    if result.port is not None:
        what = _t("port", port=result.port)
    else:
        what = _t("all", protocols=looked)
    counts = ", ".join(
        TEMPLATES["count"].format(count=n, state=state) for state, n in result.counts.items()
    )
    listening = len(result.listeners)
    connections = len(result.connections)
    yield _t(
        "summary",
        what=what,
        listening=ngettext("{n} listening socket", "{n} listening sockets", listening).format(
            n=listening
        ),
        connections=ngettext("{n} connection", "{n} connections", connections).format(
            n=connections
        ),
        counts=_t("counts", counts=counts) if counts else "",
    )
    if result.not_looked_at:
        yield paint(_t("note", note=result.not_looked_at), "dim")
    if not result.listeners and result.port is not None:
        yield paint(_t("nothing", port=result.port, protocols=looked), "yellow")
    rows = [HEADER]
    for e in result.listeners:
        # For a TCP listener the queues are the accept queue: waiting connections / backlog.
        rows.append(
            (
                e.proto,
                e.state,
                _endpoint(e.local, e.local_port),
                "*",
                str(e.recv_q),
                str(e.send_q),
                _owners(e),
            )
        )
    for e in result.connections:
        rows.append(
            (
                e.proto,
                e.state,
                _endpoint(e.local, e.local_port),
                _endpoint(e.peer, e.peer_port),
                str(e.recv_q),
                str(e.send_q),
                _owners(e),
            )
        )
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for n, r in enumerate(rows):
            line = (
                "  ".join(
                    f"{r[i]:<{widths[i]}}" if i < 4 else f"{r[i]:>{widths[i]}}" for i in range(6)
                )
                + "  "
                + r[6]
            )
            if n == 0:
                line = paint(line, "bold")
            elif r[1] in ("LISTEN", "UNCONN"):
                line = paint(line, "green")
            yield line.rstrip()
