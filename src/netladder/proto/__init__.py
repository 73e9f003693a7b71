"""Pure protocol codecs: bytes in, frozen records (`proto.record`) out; no sockets here."""
