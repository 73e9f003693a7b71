"""The public async API (issue 14): filled in as the probers become sessions."""
