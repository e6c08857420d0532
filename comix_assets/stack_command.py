"""``comix stack up | status | env | down``: the command over :class:`Stack`."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from comix_resources.stack import Stack

stack_app = typer.Typer(
    help="The scale-out stack on this machine: PostgreSQL, Redis, SeaweedFS (S3), MLflow, "
    "Dagster webserver and daemon, Celery workers on queues cpu and gpu.",
    no_args_is_help=True,
)
console = Console(stderr=True)


@stack_app.command("up")
def stack_up(
    free_ports: Annotated[
        bool, typer.Option(help="Pick free ports instead of the defaults (5432, 6379, ...).")
    ] = False,
) -> None:
    """Start the stack (servers a team already runs, given by COMIX_* URLs, are used instead);
    print where each listens. The servers keep running after this command returns."""
    from comix_resources.settings import ComixSettings
    from comix_resources.stack import Stack, StackAlreadyUp, StackConfig

    home = ComixSettings.from_env().home
    stack = Stack(StackConfig.from_env(home, free_ports=free_ports))
    began = time.perf_counter()
    try:
        stack.up(progress=lambda message: console.print(f"  {message}"))
    except StackAlreadyUp as error:
        console.print(f"[yellow]{error}")
        raise typer.Exit(1) from error
    except RuntimeError as error:
        console.print(f"[red]stack up failed: {error}")
        raise typer.Exit(1) from error
    console.print(f"stack up in {time.perf_counter() - began:.0f} s")
    _print_stack(stack)
    console.print(
        f'use it from a shell: eval "$({sys.argv[0]} stack env)"; logs: {stack.config.log_dir}'
    )


@stack_app.command("status")
def stack_status() -> None:
    """Each server of the stack: running or stopped, its pid and where it listens."""
    from comix_resources.settings import ComixSettings
    from comix_resources.stack import Stack, StackConfig

    stack = Stack(StackConfig.from_env(ComixSettings.from_env().home))
    if not _print_stack(stack):
        raise typer.Exit(1)


@stack_app.command("env")
def stack_env() -> None:
    """`export` lines for a shell that uses the running stack (holds its passwords)."""
    import shlex

    from comix_resources.settings import ComixSettings
    from comix_resources.stack import Stack, StackConfig

    stack = Stack(StackConfig.from_env(ComixSettings.from_env().home))
    state = stack.load_state()
    if state is None:
        console.print("the stack is not up (`comix stack up`)")
        raise typer.Exit(1)
    for name, value in stack.environment(state).items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@stack_app.command("down")
def stack_down() -> None:
    """Stop what `comix stack up` started (by pid, last started first), and nothing else."""
    from comix_resources.settings import ComixSettings
    from comix_resources.stack import Stack, StackConfig

    stack = Stack(StackConfig.from_env(ComixSettings.from_env().home))
    began = time.perf_counter()
    outcomes = stack.down()
    if not outcomes:
        console.print("nothing to stop: the stack is not up")
        return
    for name, outcome in outcomes:
        console.print(f"  {name}: {outcome}")
    console.print(f"stack down in {time.perf_counter() - began:.1f} s")


def _print_stack(stack: Stack) -> bool:
    """The status table; True when every recorded server runs."""
    rows = stack.status()
    table = Table(title="comix stack")
    for column in ("server", "state", "pid", "where"):
        table.add_column(column)
    for row in rows:
        colour = {"running": "green", "external": "cyan"}.get(row.state, "red")
        table.add_row(row.name, f"[{colour}]{row.state}", str(row.pid or ""), row.where)
    output = Console()
    # Wide enough for the table when standard output is a file or a pipe.
    (output if output.is_terminal else Console(width=160)).print(table)
    return bool(rows) and all(row.state != "stopped" for row in rows)
