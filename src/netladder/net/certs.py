"""Reading a peer certificate that was not verified (port --tls, http -k)."""

from __future__ import annotations

from typing import Any

__all__ = ["decode_der"]


def decode_der(der: bytes) -> dict[str, Any]:
    """The certificate's fields as ssl.getpeercert() gives them, also for a certificate the
    handshake did not verify.  CPython's own decoder only reads files, hence the temporary
    file; {} on other Pythons or an undecodable certificate (never raises)."""
    import os
    import ssl
    import tempfile

    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:  # pragma: no cover - other Pythons
        return {}
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        result: dict[str, Any] = decode(path)
        return result
    except (OSError, ValueError):
        return {}
    finally:
        os.unlink(path)
