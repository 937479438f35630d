"""The ``cityhub`` command line (typer + rich): one module per domain, all calling actions."""
