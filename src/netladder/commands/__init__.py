"""The commands of the CLI: one module per command, each with register(parser) and run(args)."""
