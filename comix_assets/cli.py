"""The ``comix`` command: demo library, headless runs, the demo stack and benchmarks."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from comix_assets.stack_command import stack_app

app = typer.Typer(
    help="CoMix: turn comic collections into a searchable, analysable corpus.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
bench_app = typer.Typer(help="Benchmarks that print figures and ratios against a baseline.")
app.add_typer(bench_app, name="bench")
app.add_typer(stack_app, name="stack")
console = Console(stderr=True)

DEMO_LIBRARY = "demo-library"
HOST = "127.0.0.1"
DAGSTER_PORT = 3000
MLFLOW_PORT = 5000
SEARCH_PORT = 8765


@app.command("demo-library")
def demo_library(
    directory: Annotated[
        Path, typer.Argument(help="Where to write amazon/, darkhorse/, calibre/.")
    ],
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 7,
) -> None:
    """Generate the synthetic demo library (three sources, ground truth beside every book)."""
    from comix_resources.demo import generate_demo_library

    with console.status(f"writing demo library to {directory}"):
        summary = generate_demo_library(directory, seed=seed)
    console.print(summary)


@app.command()
def run(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Source(s) to run; default all.")
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated assets, by name (`books,pages`) or key (`calibre/pages`); "
            "default: everything defined."
        ),
    ] = None,
) -> None:
    """Discover collections like the sensors do, then materialize every partition headlessly.

    Runs are recorded in the $COMIX_HOME instance, so they show in the Dagster UI.
    """
    from comix_assets.headless import run_all

    summary = run_all(sources=source, select=select, console=console)
    table = Table(title="comix run")
    for column in ("source", "partition", "collection", "result", "assets", "checks", "seconds"):
        table.add_column(column)
    for row in summary.rows:
        table.add_row(
            row.source,
            row.partition,
            row.collection,
            "[green]ok" if row.ok else f"[red]failed: {row.error}",
            str(row.assets),
            f"{row.checks_passed} passed, {row.checks_failed} failed",
            f"{row.seconds:.1f}",
        )
    _stdout().print(table)
    console.print(
        f"partitions: {summary.ok} ok, {summary.failed} failed; "
        f"checks: {summary.checks_passed} passed, {summary.checks_failed} failed"
    )
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Dagster UI port.")] = DAGSTER_PORT,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = MLFLOW_PORT,
    search_port: Annotated[int, typer.Option(help="Search page port.")] = SEARCH_PORT,
    regenerate: Annotated[bool, typer.Option(help="Write the demo library again.")] = False,
    rerun: Annotated[
        bool, typer.Option(help="Run the pipeline again even if the search index exists.")
    ] = False,
) -> None:
    """The whole demo: generate the demo library under $COMIX_HOME, start the MLflow UI, run
    the main pipeline (collections, the four Closure Lite variants, embeddings, index and map),
    then start the search page and the Dagster UI with sensors running. Ctrl-C stops it all."""
    from comix_assets.headless import run_all
    from comix_resources.demo import generate_demo_library
    from comix_resources.instance import ensure_dagster_home
    from comix_resources.services import Services, executable, stop_on_signals
    from comix_resources.settings import ComixSettings
    from comix_resources.tracking import sqlite_tracking_uri

    settings = ComixSettings.from_env()
    library = settings.home / DEMO_LIBRARY
    if regenerate and library.exists():
        shutil.rmtree(library)
    if not (library / "calibre" / "metadata.db").exists():
        with console.status(f"writing demo library to {library}"):
            generate_demo_library(library)
    os.environ.setdefault("COMIX_AMAZON_ROOT", str(library / "amazon"))
    os.environ.setdefault("COMIX_DARKHORSE_ROOT", str(library / "darkhorse"))
    os.environ.setdefault("COMIX_CALIBRE_LIBRARY", str(library / "calibre"))
    os.environ["COMIX_HOME"] = str(settings.home)
    os.environ.setdefault("COMIX_MLFLOW_UI", f"http://{HOST}:{mlflow_port}")
    os.environ.setdefault("COMIX_DAGSTER_UI", f"http://{HOST}:{port}")
    settings = ComixSettings.from_env()
    dagster_home = ensure_dagster_home(settings)
    services = Services(settings.home / "logs")
    stop_on_signals()
    try:
        settings.mlflow_artifacts.mkdir(parents=True, exist_ok=True)
        services.start(
            "mlflow",
            [
                executable("mlflow"),
                "ui",
                "--backend-store-uri",
                sqlite_tracking_uri(settings.mlflow_db),
                "--default-artifact-root",
                settings.mlflow_artifacts.as_uri(),
                "--host",
                HOST,
                "--port",
                str(mlflow_port),
            ],
        )
        console.print(
            f"[bold]CoMix demo[/bold]\n"
            f"  library      {library}\n"
            f"  state        {settings.home} (DAGSTER_HOME={dagster_home})\n"
            f"  MLflow UI    http://{HOST}:{mlflow_port}  (models: closure-lite-<variant>)\n"
            f"  running the pipeline headlessly first; runs are recorded for the Dagster UI"
        )
        if rerun or regenerate or not (settings.lake_root / "index" / "manifest.json").exists():
            summary = run_all(console=console, settings=settings)
            console.print(
                f"pipeline: {summary.ok} runs ok, {summary.failed} failed; checks: "
                f"{summary.checks_passed} passed, {summary.checks_failed} failed"
            )
            for row in summary.rows:
                if not row.ok:
                    console.print(f"  [red]{row.source}/{row.partition}: {row.error}")
        else:
            console.print("  pipeline already ran (search index present; --rerun to run it again)")
        stop_on_signals()  # again: the headless runs may have left dagster's handlers
        services.start(
            "search", [executable("comix"), "serve", "--host", HOST, "--port", str(search_port)]
        )
        workspace = Path("workspace.yaml")
        target = (
            ["-w", str(workspace)] if workspace.exists() else ["-m", "comix_assets.definitions"]
        )
        services.start(
            "dagster",
            [executable("dagster"), "dev", *target, "-h", HOST, "-p", str(port)],
            env={"DAGSTER_HOME": str(dagster_home)},
        )
        search_up = services.wait_for("search", HOST, search_port, timeout_s=60)
        dagster_up = services.wait_for("dagster", HOST, port, timeout_s=120)
        console.print(
            f"  Dagster UI   http://{HOST}:{port}  {'' if dagster_up else '(not up: see logs)'}\n"
            f"  search page  http://{HOST}:{search_port}  "
            f"{'' if search_up else '(not up: see logs)'}\n"
            f"  MLflow UI    http://{HOST}:{mlflow_port}\n"
            f"  logs         {services.log_dir}\n"
            f"  stop with Ctrl-C"
        )
        services.wait()
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = HOST,
    port: Annotated[int, typer.Option(help="Port of the search page.")] = SEARCH_PORT,
    bundle: Annotated[
        str | None, typer.Option(help="Search bundle (folder or URL); default the lake's index/.")
    ] = None,
    lake: Annotated[
        str | None,
        typer.Option(
            help="Lake (folder or URL, s3://...); default COMIX_LAKE_URL or $COMIX_HOME/lake."
        ),
    ] = None,
    dagster_url: Annotated[str | None, typer.Option(help="Dagster UI base for links.")] = None,
    mlflow_url: Annotated[str | None, typer.Option(help="MLflow UI base for links.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """The search page (and its JSON API, documented at /docs) over the embedding index."""
    from comix_resources.webapp.serve import serve as serve_app

    serve_app(
        host,
        port,
        bundle_dir=bundle,
        lake_root=lake,
        dagster_url=dagster_url,
        mlflow_url=mlflow_url,
        log_level=log_level,
    )


@app.command()
def panels(
    paths: Annotated[list[Path], typer.Argument(help="Page images or folders of them.")],
    detector: Annotated[str, typer.Option(help="contour (default) or fasterrcnn.")] = "contour",
    rtl: Annotated[bool, typer.Option("--rtl", help="Right-to-left reading (manga).")] = False,
    checkpoint: Annotated[
        Path | None, typer.Option(help="fasterrcnn: a CoMix-style .pth state_dict.")
    ] = None,
) -> None:
    """Print the panels of each image as JSON, in reading order (Kumiko's output shape)."""
    from comix_resources.detection.cli import panels_command

    try:
        typer.echo(panels_command(paths, detector=detector, rtl=rtl, checkpoint=checkpoint))
    except (FileNotFoundError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)  # unwrapped: scripts grep the file name
        raise typer.Exit(2) from error


@app.command("export-dataspec")
def export_dataspec(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for <source>/<collection>/<page_id>.json.")
    ],
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Source(s); default all.")
    ] = None,
) -> None:
    """Write every materialized DataSpec page as one JSON file in the original v0.3 layout,
    with its page type where the collection has page types."""
    from comix_resources.dataspec import export_dataspec_json
    from comix_resources.lake import Lake
    from comix_resources.settings import ComixSettings
    from comix_resources.sources.registry import SOURCES
    from comix_resources.tables import DATASPEC, PAGE_TYPES, with_page_types

    lake = Lake(ComixSettings.from_env().lake_root)
    total = 0
    for name in source or SOURCES:
        for path in sorted(lake.fs.glob(DATASPEC.path(lake, name, "*"))):
            collection = str(path).rsplit("/", 2)[-2]
            table = with_page_types(
                DATASPEC.read(lake, name, collection),
                PAGE_TYPES.read_if_exists(lake, name, collection),
            )
            written = export_dataspec_json(table, out_dir / name / collection)
            console.print(f"{name}/{collection}: {len(written)} pages")
            total += len(written)
    console.print(f"{total} DataSpec v0.3 files under {out_dir}")


@app.command()
def settings(
    markdown: Annotated[
        bool, typer.Option(help="Print the README's table of variables instead.")
    ] = False,
) -> None:
    """The effective settings: every COMIX_* variable, its value here and its default."""
    from comix_resources.settings import VARIABLES, ComixSettings, settings_markdown

    if markdown:
        typer.echo(settings_markdown())
        return
    current = ComixSettings.from_env()
    table = Table(title="comix settings")
    for column in ("variable", "value", "default"):
        table.add_column(column)
    for variable in VARIABLES:
        if variable.field == "source_root":
            name = next(s for s, v in _source_variables().items() if v == variable.name)
            value = current.source_root(name)
        else:
            value = getattr(current, variable.field)
        if variable.field == "vlm_api_key_set":
            value = "set" if value else ""
        table.add_row(variable.name, _format_setting(value), variable.default or "unset")
    _stdout().print(table)


def _source_variables() -> dict[str, str]:
    from comix_resources.sources.registry import SOURCE_SPECS

    return {spec.name: spec.root_variable for spec in SOURCE_SPECS}


def _format_setting(value: object) -> str:
    if value is None or value == "" or value is False:
        return "unset"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


@bench_app.command("accuracy")
def bench_accuracy(
    library: Annotated[
        Path | None, typer.Option(help="A demo library (default: generate one).")
    ] = None,
    ocr: Annotated[bool, typer.Option(help="Run RapidOCR (else truth text boxes).")] = True,
) -> None:
    """Panels, reading order, text-to-panel, non-comic and alignment vs the demo ground truth."""
    from comix_resources.benchmarks.accuracy import run_accuracy_benchmark
    from comix_resources.benchmarks.report import format_report

    typer.echo(format_report(run_accuracy_benchmark(library, ocr=ocr)))


@bench_app.command("kumiko")
def bench_kumiko() -> None:
    """Every panel of the Kumiko ground-truth pages at IoU >= 0.8, in order."""
    from comix_resources.benchmarks.accuracy import DEFAULT_KUMIKO_FIXTURES, run_kumiko_benchmark
    from comix_resources.benchmarks.report import format_report

    typer.echo(format_report(run_kumiko_benchmark(DEFAULT_KUMIKO_FIXTURES)))


@bench_app.command("speed")
def bench_speed(
    pages: Annotated[int, typer.Option(help="Demo pages to time.")] = 12,
    fasterrcnn: Annotated[bool, typer.Option(help="Also time Faster R-CNN.")] = True,
) -> None:
    """Pages per second of each detector, OCR and the whole per-page pipeline on 2 cores."""
    from comix_resources.benchmarks.report import format_report
    from comix_resources.benchmarks.speed import run_speed_benchmark

    typer.echo(format_report(run_speed_benchmark(pages=pages, fasterrcnn=fasterrcnn)))


@bench_app.command("extract")
def bench_extract(
    pages: Annotated[int, typer.Option(help="Pages per synthetic book.")] = 200,
    workdir: Annotated[
        Path | None, typer.Option(help="Scratch folder (default: a temp dir).")
    ] = None,
) -> None:
    """Page extraction speed: CBZ vs a bare zipfile loop, PDF embedded images vs rendering."""
    import tempfile

    from comix_resources.benchmarks.extract import run_extract_benchmark

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        rows = run_extract_benchmark(Path(scratch), pages=pages)
    table = Table(title=f"comix bench extract ({time.perf_counter() - started:.0f} s)")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[_format_cell(row.get(column)) for column in columns])
    _stdout().print(table)


def _stdout() -> Console:
    """Standard output; wide enough for tables when it is a file or a pipe, not a terminal."""
    output = Console()
    return output if output.is_terminal else Console(width=160)


def _format_cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


if __name__ == "__main__":
    app()
