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

    Runs are recorded in the $COMIX_HOME instance, so they show in the Dagster UI. SIGTERM and
    Ctrl-C stop it (also when started in the background) after marking the current run failed.
    """
    from comix_assets.headless import run_all
    from comix_resources.services import stop_on_signals

    stop_on_signals()
    summary = run_all(sources=source, select=select, console=console)
    table = Table(title="comix run")
    for column in ("source", "partition", "collection", "result", "assets", "checks", "seconds"):
        table.add_column(column)
    for row in summary.rows:
        table.add_row(
            row.source,
            row.partition,
            row.collection,
            (f"[green]ok[/green] [dim]{row.note}" if row.note else "[green]ok")
            if row.ok
            else f"[red]failed: {row.error}",
            str(row.assets),
            f"{row.checks_passed} passed, {row.checks_failed} failed",
            f"{row.seconds:.1f}",
        )
    _stdout().print(table)
    console.print(
        f"partitions: {summary.ok} ok, {summary.failed} failed; "
        f"checks: {summary.checks_passed} passed, {summary.checks_failed} failed"
    )
    if summary.interrupted:
        console.print(f"[red]stopped: {summary.interrupted}")
        raise typer.Exit(130)
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
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(help="Host header to answer (repeatable, * for any); default: --host."),
    ] = None,
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
        allowed_hosts=allowed_host or (),
    )


@app.command()
def panels(
    paths: Annotated[list[Path], typer.Argument(help="Page images or folders of them.")],
    detector: Annotated[
        str, typer.Option(help="contour (default), learned or fasterrcnn.")
    ] = "contour",
    rtl: Annotated[bool, typer.Option("--rtl", help="Right-to-left reading (manga).")] = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="fasterrcnn: a CoMix-style .pth state_dict; learned: a model folder."),
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


@app.command("export-comicinfo")
def export_comicinfo(
    out_dir: Annotated[
        Path,
        typer.Argument(help="Folder for <source>/<book folder>/<book name>/ComicInfo.xml."),
    ],
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Source(s); default all.")
    ] = None,
    cbz: Annotated[
        bool, typer.Option("--cbz", help="Also a copy of each CBZ with that ComicInfo.xml inside.")
    ] = False,
) -> None:
    """Write a ComicInfo.xml per materialized book: its own metadata kept, its <Pages> with the
    predicted page types, DoublePage, ImageWidth and ImageHeight. The books are only read."""
    from comix_resources.comicinfo_export import export_collection
    from comix_resources.lake import Lake
    from comix_resources.settings import ComixSettings
    from comix_resources.sources.registry import SOURCES
    from comix_resources.tables import BOOKS, PAGE_TYPES, PAGES

    settings = ComixSettings.from_env()
    target = out_dir.expanduser().resolve()
    for name, root in settings.source_roots.items():
        if root is not None and target.is_relative_to(root.resolve()):
            console.print(
                f"error: {out_dir} is inside the {name} library ({root}): the export never "
                "writes into a library; choose a folder outside it"
            )
            raise typer.Exit(2)
    lake = Lake(settings.lake_url)
    books_written = copies = 0
    for name in source or SOURCES:
        for path in sorted(lake.fs.glob(PAGES.path(lake, name, "*"))):
            collection = str(path).rsplit("/", 2)[-2]
            written = export_collection(
                BOOKS.read(lake, name, collection),
                PAGES.read(lake, name, collection),
                PAGE_TYPES.read_if_exists(lake, name, collection),
                target / name,
                with_cbz=cbz,
            )
            typed = sum(book.typed_pages for book in written)
            copied = sum(book.cbz is not None for book in written)
            console.print(
                f"{name}/{collection}: {len(written)} books, {typed} pages typed"
                + (f", {copied} CBZ copies" if cbz else "")
            )
            books_written += len(written)
            copies += copied
    console.print(
        f"{books_written} ComicInfo.xml"
        + (f" and {copies} CBZ copies" if cbz else "")
        + f" under {target}"
    )


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


@bench_app.command("real-pages")
def bench_real_pages(
    detector: Annotated[
        list[str] | None,
        typer.Option(
            help="Detectors side by side: contour, learned (the MLflow champion, or "
            "--learned-folder), fasterrcnn (--checkpoint). Default: contour, and learned when "
            "there is a champion."
        ),
    ] = None,
    learned_folder: Annotated[
        Path | None, typer.Option(help="learned: a model folder instead of the champion.")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="fasterrcnn: a .pth file.")] = None,
    overlays: Annotated[
        Path | None, typer.Option(help="Write truth (green) vs detection (red) PNGs here.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full result.")] = None,
    generated: Annotated[
        int, typer.Option(help="Also score this many held-out generated pages (0: none).")
    ] = 0,
) -> None:
    """Panels on real pages (Science Comics #1, 1946, hand-made truth): F1 at IoU 0.5 and
    0.8, exact count, reading order, s/page per detector, with and without the advert page."""
    import json

    from comix_resources.benchmarks.real_pages import (
        generated_pages,
        real_pages_detectors,
        run_real_pages_benchmark,
    )
    from comix_resources.benchmarks.report import format_report

    try:
        detectors = real_pages_detectors(detector, learned_folder, checkpoint)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    result = run_real_pages_benchmark(detectors, overlays=overlays)
    typer.echo(format_report(result))
    if generated:
        result["generated"] = run_real_pages_benchmark(detectors, pages=generated_pages(generated))
        typer.echo("\n" + format_report(result["generated"]))
    if json_out:
        json_out.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")


@bench_app.command("speed")
def bench_speed(
    pages: Annotated[int, typer.Option(help="Demo pages to time.")] = 12,
    fasterrcnn: Annotated[bool, typer.Option(help="Also time Faster R-CNN.")] = True,
) -> None:
    """Pages per second of each detector, OCR and the whole per-page pipeline on 2 cores."""
    from comix_resources.benchmarks.report import format_report
    from comix_resources.benchmarks.speed import run_speed_benchmark

    typer.echo(format_report(run_speed_benchmark(pages=pages, fasterrcnn=fasterrcnn)))


@bench_app.command("pipeline")
def bench_pipeline(
    library: Annotated[
        Path | None, typer.Option(help="A demo library (default: generate one).")
    ] = None,
    demo_pages: Annotated[
        int, typer.Option(help="Demo pages spread over the library; 0: all, -1: none.")
    ] = 0,
    science_pages: Annotated[int, typer.Option(help="Pages of the real 1946 comic.")] = 36,
    rust_pages: Annotated[int, typer.Option(help="Pages of the real programming book.")] = 12,
    workers: Annotated[
        list[int] | None, typer.Option(help="Worker counts of the 'after' side (repeatable).")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Before/after pairs, interleaved.")] = 1,
    base: Annotated[str, typer.Option(help="The commit measured as 'before'.")] = "9122867",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
) -> None:
    """Pages per core of the per-page pipeline and each stage, before vs after, with quality."""
    import json

    from comix_resources.benchmarks.pipeline import format_pipeline_report, run_pipeline_benchmark

    report = run_pipeline_benchmark(
        library, demo_pages, science_pages, rust_pages, rounds, tuple(workers or [1, 2]), base
    )
    typer.echo(format_pipeline_report(report))
    if json_out:
        json_out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")


@bench_app.command("vlm")
def bench_vlm(
    latency_s: Annotated[float, typer.Option(help="Seconds the endpoint takes per page.")] = 4.0,
    capacity: Annotated[int, typer.Option(help="Requests the endpoint takes at once.")] = 32,
    concurrency: Annotated[
        list[int] | None, typer.Option(help="max_concurrency values to try (repeatable).")
    ] = None,
) -> None:
    """Pages/s of the VLM cascade against a local fake endpoint, by requests in flight."""
    from comix_resources.benchmarks.vlm_concurrency import (
        format_vlm_report,
        run_vlm_concurrency_benchmark,
    )

    report = run_vlm_concurrency_benchmark(
        tuple(concurrency or [1, 4, 16, 32, 64]), latency_s, capacity
    )
    typer.echo(format_vlm_report(report))


@bench_app.command("scale-out")
def bench_scale_out(
    workers: Annotated[
        list[int] | None, typer.Option(help="Celery worker counts to try (repeatable).")
    ] = None,
    latency_s: Annotated[float, typer.Option(help="Seconds the VLM endpoint takes a page.")] = 1.0,
    books: Annotated[int, typer.Option(help="Synthetic books in the collection.")] = 24,
    pages_per_book: Annotated[int, typer.Option(help="Pages in each book.")] = 4,
    shard_pages: Annotated[int, typer.Option(help="COMIX_SHARD_PAGES for the run.")] = 12,
) -> None:
    """Pages/s of page text over 1, 2, 4 Celery workers on a latency-bound endpoint, and the
    start-up of a run (PostgreSQL, Redis and workers started for the benchmark)."""
    from comix_assets.scale_out_bench import format_scale_out, run_scale_out_benchmark

    result = run_scale_out_benchmark(
        tuple(workers or [1, 2, 4]), latency_s, books, pages_per_book, shard_pages
    )
    typer.echo(format_scale_out(result))


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
    _print_rows(f"comix bench extract ({time.perf_counter() - started:.0f} s)", rows)


@bench_app.command("bounded")
def bench_bounded(
    workdir: Annotated[
        Path | None, typer.Option(help="Scratch folder (default: a temp dir).")
    ] = None,
    baseline_pages: Annotated[
        int, typer.Option(help="Pages the unbounded PDF baseline renders (scaled to 5,000).")
    ] = 500,
) -> None:
    """Hostile inputs the limits bound (16-bit PNG bomb, 5,000-page blank PDF, a page drawing
    a 60000x60000 image): seconds and peak memory, each against the unbounded way."""
    import tempfile

    from comix_resources.benchmarks.bounded import run_bounded_benchmark

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        rows = run_bounded_benchmark(Path(scratch), baseline_pages=baseline_pages)
    _print_rows(f"comix bench bounded ({time.perf_counter() - started:.0f} s)", rows)


@bench_app.command("loose-pages")
def bench_loose_pages(
    pages: Annotated[int, typer.Option(help="Loose page files in one folder.")] = 805_000,
    pages_per_book: Annotated[int, typer.Option(help="Pages of each book.")] = 40,
    books_table: Annotated[
        bool, typer.Option(help="Also time the books table of the whole folder (once).")
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="Scratch folder (default: a temp dir).")
    ] = None,
) -> None:
    """Listing a folder of loose pages of thousands of books into books, against a bare
    directory scan with a stat of every file."""
    import tempfile

    from comix_resources.benchmarks.loose_pages import run_loose_pages_benchmark

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        rows = run_loose_pages_benchmark(
            Path(scratch), pages=pages, pages_per_book=pages_per_book, books_table=books_table
        )
    _print_rows(f"comix bench loose-pages ({time.perf_counter() - started:.0f} s)", rows)


def _print_rows(title: str, rows: list[dict]) -> None:
    """Benchmark rows as a table on standard output, one column per key."""
    table = Table(title=title)
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
