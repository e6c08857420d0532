"""How `comix run` reads a finished in-process run: a signal before any step is a stop."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError

from comix_assets.headless import _outcome


class InterruptedAtSetUp(dg.ConfigurableResource):
    """What Dagster raises when SIGTERM arrives while the run sets its resources up."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        raise DagsterExecutionInterruptedError()


class BrokenAtSetUp(dg.ConfigurableResource):
    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        raise ValueError("no such bucket")


@dg.asset
def interrupted_thing(failing: InterruptedAtSetUp) -> int:
    return 1


@dg.asset
def broken_thing(failing: BrokenAtSetUp) -> int:
    return 1


@pytest.mark.parametrize(
    ("asset", "resource", "interrupted"),
    [(interrupted_thing, InterruptedAtSetUp(), True), (broken_thing, BrokenAtSetUp(), False)],
)
def test_a_signal_during_resource_set_up_stops_comix_run(
    asset: dg.AssetsDefinition, resource: dg.ConfigurableResource, interrupted: bool
) -> None:
    # The run fails before any step starts; CI saw `comix run` go on to the next partition and
    # exit 1 instead of 130.
    result = dg.materialize([asset], resources={"failing": resource}, raise_on_error=False)
    outcome = _outcome(result, "darkhorse", "p", "P", 0.0)
    assert not outcome.ok and outcome.interrupted is interrupted
    assert outcome.error.startswith("run: interrupted") is interrupted
