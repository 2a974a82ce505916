"""The ``dome`` subcommands, one module per group; ``dome.cli`` assembles the parser.

Commands are thin: they parse, call the SDK or start processes, and print. Business
logic lives in ``dome.client`` and the engine, so the CLI can never disagree with them.
"""
