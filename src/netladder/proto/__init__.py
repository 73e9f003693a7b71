"""Pure protocol codecs: bytes in, frozen dataclasses out; no sockets here."""
