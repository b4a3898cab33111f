"""The `riskscore` command line. Each stage's commands live in riskscore/commands/<stage>.py and
register themselves here; this module only assembles them and translates errors to one line."""

from __future__ import annotations

import importlib
import sys

import typer

from riskscore.errors import RiskscoreError

app = typer.Typer(
    name="riskscore",
    help="Early-warning signals against early school leaving (VSV): rules + a glass-box model, for human review.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: command modules, in the order they appear in --help
COMMAND_MODULES = ("synth", "ingest", "features", "training", "scoring", "service", "keys", "users", "monitoring", "audit",
                   "impact", "privacy")


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"riskscore.commands.{name}")
        except ModuleNotFoundError as exc:  # a stage not built yet
            if exc.name == f"riskscore.commands.{name}":
                continue
            raise
        module.register(app)


_register()


def main() -> None:
    """Entry point: run the app. A RiskscoreError or a usage error becomes one line on stderr and a
    non-zero exit code; a command's own exit code (typer.Exit) is passed through."""
    import click

    try:
        rc = app(standalone_mode=False)
    except RiskscoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, click.exceptions.Abort):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:  # usage errors, BadParameter, missing files
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
