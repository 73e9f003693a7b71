"""The commands: one module each, imported only when chosen (see netladder.cli)."""
