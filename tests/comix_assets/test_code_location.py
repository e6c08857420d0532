"""Loading the code location stays light: no demo generator, no benchmark, no model stack."""

from __future__ import annotations

import json
import subprocess
import sys

# What `dagster dev` must not pay for at start-up (each is loaded where it is used).
NOT_LOADED = (
    "comix_resources.demo",
    "comix_resources.benchmarks",
    "torch",
    "transformers",
    "great_expectations",
    "mlflow",
    "umap",
    "onnxruntime",
)

PROBE = """
import json, sys, time
started = time.perf_counter()
import comix_assets.definitions
print(json.dumps({"seconds": time.perf_counter() - started, "modules": sorted(sys.modules)}))
"""


def test_definitions_import_no_demo_benchmark_or_model_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=300
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    loaded = [
        name
        for name in report["modules"]
        if any(name == banned or name.startswith(banned + ".") for banned in NOT_LOADED)
    ]
    assert loaded == [], f"loading the definitions imported {loaded[:10]}"
    print(f"code location loaded in {report['seconds']:.2f} s")


def test_engines_never_import_dagster_or_the_asset_graph() -> None:
    """comix_resources is the engine layer: only its resources module may import dagster, and
    nothing in it imports comix_assets."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "comix_resources"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "comix_assets" or (top == "dagster" and path.name != "resources.py"):
                    offenders.append(f"{path.relative_to(root.parent)}: {name}")
    assert offenders == []
