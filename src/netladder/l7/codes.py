"""HTTP status codes as data: name, RFC section, meaning, when to choose it over its neighbours,
and which well-known public APIs document it (the table in REFERENCE.md).

Pure data and lookups; no I/O.  Sections are RFC 9110 unless the entry names another RFC.
"""

from __future__ import annotations

from collections.abc import Mapping

from netladder.model import field, json_name, record

__all__ = [
    "API_ADDED",
    "API_CODES",
    "CLASSES",
    "CODES",
    "CodeClass",
    "CodeDetail",
    "CodeSummary",
    "CodeTable",
    "StatusCode",
    "apis_adding",
    "apis_using",
    "class_of",
    "codes_in_class",
    "detail",
    "in_class",
    "lookup",
    "reason_phrase",
    "table",
    "usage_count",
]


@record
class StatusCode:
    code: int
    name: str
    section: str  # "RFC 9110 §15.5.2" style
    meaning: str
    choose: str = ""  # when to use it rather than its neighbours
    standard: bool = True


CLASSES: dict[int, tuple[str, str]] = {
    1: ("Informational", "RFC 9110 §15.2"),
    2: ("Successful", "RFC 9110 §15.3"),
    3: ("Redirection", "RFC 9110 §15.4"),
    4: ("Client Error", "RFC 9110 §15.5"),
    5: ("Server Error", "RFC 9110 §15.6"),
}


def _c(
    code: int, name: str, section: str, meaning: str, choose: str = "", standard: bool = True
) -> StatusCode:
    if section[0].isdigit():
        section = f"RFC 9110 §{section}"
    return StatusCode(code, name, section, meaning, choose, standard)


_TABLE: tuple[StatusCode, ...] = (
    _c(
        100,
        "Continue",
        "15.2.1",
        "The request head was accepted; the client may send the content it held back "
        "(Expect: 100-continue).",
    ),
    _c(
        101,
        "Switching Protocols",
        "15.2.2",
        "The server switches to the protocol named in its Upgrade header (e.g. WebSocket).",
        "Must carry Upgrade; only in answer to a request that asked for an upgrade.",
    ),
    _c(102, "Processing", "RFC 2518 §10.1", "WebDAV: still working; deprecated and rarely sent."),
    _c(
        103,
        "Early Hints",
        "RFC 8297 §2",
        "Headers (usually Link preload) the final response will probably carry.",
    ),
    _c(
        200,
        "OK",
        "15.3.1",
        "The request succeeded; the content depends on the method.",
        "The default success. Use 201 when a resource was created, 204 when there is nothing "
        "to return.",
    ),
    _c(
        201,
        "Created",
        "15.3.2",
        "A new resource was created; Location identifies it (else the target URI).",
        "Use for a POST/PUT that created something, rather than a plain 200.",
    ),
    _c(
        202,
        "Accepted",
        "15.3.3",
        "Accepted for processing that has not finished (asynchronous work).",
        "Use when the outcome is not known yet; point to a status monitor in the content.",
    ),
    _c(
        203,
        "Non-Authoritative Information",
        "15.3.4",
        "A transforming proxy changed the origin's 200 response.",
    ),
    _c(
        204,
        "No Content",
        "15.3.5",
        "Success with no content to send (e.g. after DELETE or a PUT that returns nothing).",
        "Use instead of 200 with an empty body; it must not carry content.",
    ),
    _c(
        205,
        "Reset Content",
        "15.3.6",
        "Success; the client should reset the form or view that sent the request.",
    ),
    _c(
        206,
        "Partial Content",
        "15.3.7",
        "The requested range(s) of the representation; a single part carries Content-Range.",
    ),
    _c(207, "Multi-Status", "RFC 4918 §11.1", "WebDAV: several status codes in an XML body."),
    _c(
        208,
        "Already Reported",
        "RFC 5842 §7.1",
        "WebDAV: members already listed earlier in this multistatus.",
    ),
    _c(226, "IM Used", "RFC 3229 §10.4.1", "Delta encoding: an instance-manipulation result."),
    _c(300, "Multiple Choices", "15.4.1", "Several representations; the client picks one."),
    _c(
        301,
        "Moved Permanently",
        "15.4.2",
        "The resource moved for good; Location gives the new URI. Clients may turn POST into GET.",
        "Use 308 instead when the method and body must be kept on the redirected request.",
    ),
    _c(
        302,
        "Found",
        "15.4.3",
        "Temporarily elsewhere (Location). Clients may turn POST into GET.",
        "Use 307 when the method must be kept, 303 to send the client to a GET result page.",
    ),
    _c(
        303,
        "See Other",
        "15.4.4",
        "Look at another resource with GET (e.g. the result of a POST); Location names it.",
        "Use after a POST to redirect to a result page (Post/Redirect/Get).",
    ),
    _c(
        304,
        "Not Modified",
        "15.4.5",
        "A conditional GET/HEAD found the cached copy still valid; no content.",
        "Only in answer to a conditional request (If-None-Match / If-Modified-Since).",
    ),
    _c(305, "Use Proxy", "15.4.6", "Deprecated; must not be used.", standard=False),
    _c(306, "(Unused)", "15.4.7", "Reserved; formerly Switch Proxy.", standard=False),
    _c(
        307,
        "Temporary Redirect",
        "15.4.8",
        "Temporarily elsewhere; the client must repeat the same method and content.",
        "The method-keeping form of 302.",
    ),
    _c(
        308,
        "Permanent Redirect",
        "15.4.9",
        "Moved for good; the client must repeat the same method and content.",
        "The method-keeping form of 301.",
    ),
    _c(
        400,
        "Bad Request",
        "15.5.1",
        "The request is malformed: bad syntax, framing or parameters the server cannot parse.",
        "Use for syntax; use 422 when the syntax is fine but the content fails validation.",
    ),
    _c(
        401,
        "Unauthorized",
        "15.5.2",
        "Not authenticated: no or bad credentials. Must carry WWW-Authenticate.",
        "Use when credentials are missing or invalid; use 403 when they are valid but not enough.",
    ),
    _c(
        402,
        "Payment Required",
        "15.5.3",
        "Reserved for future use; some APIs use it for "
        "billing failures (Stripe: a card was declined).",
    ),
    _c(
        403,
        "Forbidden",
        "15.5.4",
        "Understood and authenticated (or authentication would not help), but refused.",
        "Use when the client is known but not allowed; 401 when it must (re)authenticate; "
        "404 to hide that the resource exists.",
    ),
    _c(
        404,
        "Not Found",
        "15.5.5",
        "No current representation for the target (or the server will not say it exists).",
        "Use 410 when it is known to be gone for good.",
    ),
    _c(
        405,
        "Method Not Allowed",
        "15.5.6",
        "The resource exists but not for this method. Must carry Allow.",
        "Use instead of 404/400 when the path is right and the method is wrong.",
    ),
    _c(406, "Not Acceptable", "15.5.7", "No representation matches the request's Accept* headers."),
    _c(
        407,
        "Proxy Authentication Required",
        "15.5.8",
        "Like 401, for a proxy; must carry Proxy-Authenticate.",
    ),
    _c(
        408,
        "Request Timeout",
        "15.5.9",
        "The client did not finish its request in time; the server closes the connection.",
    ),
    _c(
        409,
        "Conflict",
        "15.5.10",
        "Conflicts with the resource's current state (edit conflict, duplicate).",
        "Use for state conflicts; 412 when a precondition header failed; 422 for invalid content.",
    ),
    _c(
        410,
        "Gone",
        "15.5.11",
        "Gone for good, and no forwarding address is known.",
        "Use instead of 404 when the removal is deliberate and permanent (caches keep it).",
    ),
    _c(411, "Length Required", "15.5.12", "The server needs Content-Length."),
    _c(
        412,
        "Precondition Failed",
        "15.5.13",
        "A precondition header (If-Match, If-Unmodified-Since) evaluated false.",
    ),
    _c(
        413,
        "Content Too Large",
        "15.5.14",
        "The content is larger than the server will process; Retry-After if temporary.",
    ),
    _c(414, "URI Too Long", "15.5.15", "The target URI is longer than the server will parse."),
    _c(
        415,
        "Unsupported Media Type",
        "15.5.16",
        "The content's media type or encoding is not supported for this method and target.",
    ),
    _c(
        416,
        "Range Not Satisfiable",
        "15.5.17",
        "None of the requested ranges overlap the representation; Content-Range bytes */LEN.",
    ),
    _c(417, "Expectation Failed", "15.5.18", "The Expect header cannot be met."),
    _c(418, "(Unused)", "15.5.19", "Reserved (the 1998 teapot joke); do not use.", standard=False),
    _c(
        420,
        "Enhance Your Calm",
        "Twitter API v1 (non-standard)",
        "Twitter's old rate-limit code, later replaced by 429.",
        "Do not use: send 429 Too Many Requests.",
        standard=False,
    ),
    _c(
        421,
        "Misdirected Request",
        "15.5.20",
        "This server cannot answer for this authority (e.g. a reused HTTP/2 connection).",
    ),
    _c(
        422,
        "Unprocessable Content",
        "15.5.21",
        "Well-formed, but the content's instructions cannot be processed (validation failed).",
        "Use when the syntax parses but the values are wrong; 400 when it does not parse.",
    ),
    _c(423, "Locked", "RFC 4918 §11.3", "WebDAV: the resource is locked."),
    _c(
        424,
        "Failed Dependency",
        "RFC 4918 §11.4",
        "WebDAV: failed because an action it depended on failed.",
    ),
    _c(
        425,
        "Too Early",
        "RFC 8470 §5.2",
        "The server will not risk a replayable early-data request.",
    ),
    _c(
        426, "Upgrade Required", "15.5.22", "The client must switch protocols; Upgrade names which."
    ),
    _c(
        428,
        "Precondition Required",
        "RFC 6585 §3",
        "The server requires conditional requests (to avoid lost updates).",
    ),
    _c(
        429,
        "Too Many Requests",
        "RFC 6585 §4",
        "The client sent too many requests in a time window; Retry-After may say when to retry.",
        "Use for per-client rate limits; 503 when the whole service is overloaded or down.",
    ),
    _c(
        431,
        "Request Header Fields Too Large",
        "RFC 6585 §5",
        "A header field, or all of them together, are too large.",
    ),
    _c(
        451,
        "Unavailable For Legal Reasons",
        "RFC 7725 §3",
        "Access denied as a consequence of a legal demand.",
    ),
    _c(
        500,
        "Internal Server Error",
        "15.6.1",
        "An unexpected condition stopped the server from fulfilling the request.",
        "The generic server fault; prefer 502/503/504 when the cause is one of theirs.",
    ),
    _c(
        501,
        "Not Implemented",
        "15.6.2",
        "The server does not support the functionality (e.g. an unknown method).",
        "Use for a method the server does not know at all; 405 for one this resource refuses.",
    ),
    _c(
        502,
        "Bad Gateway",
        "15.6.3",
        "A gateway or proxy got an invalid response from the upstream server.",
    ),
    _c(
        503,
        "Service Unavailable",
        "15.6.4",
        "Temporarily unable to handle requests (overload, maintenance); Retry-After may say when.",
        "Use for a service-wide condition; 429 for one client's rate limit.",
    ),
    _c(
        504,
        "Gateway Timeout",
        "15.6.5",
        "A gateway or proxy did not get a timely response from the upstream server.",
    ),
    _c(
        505,
        "HTTP Version Not Supported",
        "15.6.6",
        "The server refuses the request's major HTTP version.",
    ),
    _c(
        506,
        "Variant Also Negotiates",
        "RFC 2295 §8.1",
        "Transparent content negotiation misconfiguration.",
    ),
    _c(
        507,
        "Insufficient Storage",
        "RFC 4918 §11.5",
        "WebDAV: the server cannot store what the request needs (Dropbox: over quota).",
    ),
    _c(508, "Loop Detected", "RFC 5842 §7.2", "WebDAV: an infinite loop while processing."),
    _c(510, "Not Extended", "RFC 2774 §7", "Obsoleted (historic)."),
    _c(
        511,
        "Network Authentication Required",
        "RFC 6585 §6",
        "A captive portal wants the client to authenticate to get network access.",
    ),
)

CODES: dict[int, StatusCode] = {c.code: c for c in _TABLE}

# REFERENCE.md: "Status codes used by well-known APIs" (documented codes, not endorsements).
API_CODES: dict[str, tuple[int, ...]] = {
    "Twitter": (200, 304, 400, 401, 403, 404, 406, 410, 420, 422, 429, 500, 502, 503, 504),
    "Stripe": (200, 400, 401, 402, 404, 429, 500, 502, 503, 504),
    "GitHub": (200, 301, 302, 304, 307, 400, 401, 403, 422),
    "PagerDuty": (200, 201, 204, 400, 401, 403, 404, 408, 500),
    "NewRelic Plugins": (200, 400, 403, 404, 405, 413, 500, 502, 503),
    "Etsy": (200, 201, 400, 403, 404, 500, 503),
    "Dropbox": (200, 400, 401, 403, 404, 405, 429, 503, 507),
    "Spotify": (200, 201, 204, 304, 400, 401, 403, 404, 429, 500, 502, 503),
    "Google Cloud": (
        200,
        301,
        304,
        307,
        308,
        400,
        401,
        403,
        404,
        405,
        409,
        411,
        412,
        416,
        429,
        500,
        501,
        503,
    ),
    "HipChat": (200, 201, 202, 400, 401, 403, 404, 405, 429, 500, 503),
    "Telegram": (200, 303, 400, 401, 403, 404, 420, 500),
    "Pocket": (200, 400, 401, 403, 503),
    "Uber": (200, 201, 400, 401, 403, 404, 406, 409, 422, 429, 500),
}

# Codes an API's current documentation adds to the cited table (not counted in usage).
API_ADDED: dict[str, tuple[int, ...]] = {"Stripe": (403, 409, 424)}


def lookup(code: int) -> StatusCode | None:
    return CODES.get(code)


def class_of(code: int) -> tuple[str, str] | None:
    """The class name and section of a status code (100..599), registered or not."""
    return CLASSES.get(code // 100) if 100 <= code <= 599 else None


def codes_in_class(digit: int) -> list[StatusCode]:
    return [c for c in _TABLE if c.code // 100 == digit]


def apis_using(code: int) -> list[str]:
    return [api for api, codes in API_CODES.items() if code in codes]


def apis_adding(code: int) -> list[str]:
    return [api for api, codes in API_ADDED.items() if code in codes]


def usage_count(code: int) -> int:
    return len(apis_using(code))


def reason_phrase(code: int) -> str:
    entry = CODES.get(code)
    return entry.name if entry else ""


# -- what `netladder codes` shows -----------------------------------------------------------------


@record
class CodeSummary:
    """One line of a table: the code, its name and section, how many APIs document it."""

    code: int
    name: str
    section: str
    standard: bool
    used_by_count: int


@record
class CodeTable:
    """Every registered code (`netladder codes`), and the codes each well-known API documents."""

    codes: tuple[CodeSummary, ...]

    __json_extra__ = ("apis",)

    @property
    def apis(self) -> Mapping[str, tuple[int, ...]]:
        return API_CODES


@record
class CodeClass:
    """The codes of one class (`netladder codes 4xx`)."""

    pattern: str = field(metadata=json_name("class"))  # as asked: "4xx"
    name: str  # "Client Error"
    section: str
    codes: tuple[CodeSummary, ...]

    @property
    def digit(self) -> int:
        return int(self.pattern[0])

    @property
    def apis_total(self) -> int:
        return len(API_CODES)


@record
class CodeDetail:
    """One status code (`netladder codes 404`), registered or not (then only its class)."""

    code: int
    name: str | None
    class_name: str = field(metadata=json_name("class"))
    class_section: str
    section: str | None
    standard: bool
    meaning: str | None
    choose: str | None
    used_by: tuple[str, ...]
    added_by: tuple[str, ...]
    apis_total: int


def _summary(entry: StatusCode) -> CodeSummary:
    return CodeSummary(
        entry.code, entry.name, entry.section, entry.standard, usage_count(entry.code)
    )


def table() -> CodeTable:
    return CodeTable(tuple(_summary(c) for c in _TABLE))


def in_class(digit: int) -> CodeClass:
    """The class `digit`xx (1..5)."""
    name, section = CLASSES[digit]
    return CodeClass(f"{digit}xx", name, section, tuple(_summary(c) for c in codes_in_class(digit)))


def detail(code: int) -> CodeDetail:
    """A code in 100..599 (ValueError outside: the caller checks the input)."""
    cls = class_of(code)
    if cls is None:
        raise ValueError(f"{code} is not a status code (100..599)")
    entry = lookup(code)
    return CodeDetail(
        code,
        entry.name if entry else None,
        cls[0],
        cls[1],
        entry.section if entry else None,
        entry.standard if entry else False,
        entry.meaning if entry else None,
        entry.choose if entry else None,
        tuple(apis_using(code)),
        tuple(apis_adding(code)),
        len(API_CODES),
    )
