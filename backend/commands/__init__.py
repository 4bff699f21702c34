"""One module per `headfuse` subcommand (see backend/cli.py)."""
