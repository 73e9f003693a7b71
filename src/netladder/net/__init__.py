"""The I/O boundary: socket creation, privilege fallback, kernel timestamps, error queue."""
