"""`netladder serve`: a blackbox_exporter-compatible prober (issue 15).

config   the configuration: blackbox's modules file, netladder's extensions, monitors
metrics  Prometheus's text exposition format
probers  the one adapter to the probe engines (the only module here that imports them)
server   the HTTP endpoints on asyncio streams with the project's HTTP/1.1 codec

Nothing imports this package but its command (netladder.commands.serve): PyYAML and the
engines load only when the exporter runs.
"""
