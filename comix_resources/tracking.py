"""A small MLflow layer of our own: runs, params without secrets, torch models, champion alias.

DESIGN.md rules out ``dagster-mlflow`` (unmaintained, pins dagster); this module is plain Python
that knows nothing of Dagster, so an asset can call it and put :func:`run_url` and
:func:`model_version_url` links in its metadata.

MLflow 3 facts this relies on (see DESIGN.md, "Known facts"):

- ``mlflow.pytorch.log_model(model, name=...)``; ``artifact_path`` is deprecated.
- The default ``pt2`` serialization (``torch.export``) needs an ``input_example`` of tensors or
  arrays; MLflow infers the signature from it. We always pass ``pip_requirements`` because
  inferring them imports the model in a subprocess (about 8 s, and it may hit the network).
- Aliases (``champion``) replace the deprecated stages.

The tracking URI is process-global in MLflow's fluent API (``mlflow.pytorch.log_model`` only
knows the active run), so :class:`Tracker` sets it whenever it starts a run. Dagster's default
executor runs each step in its own process, so two trackers do not meet in one process there.

Serialization, measured on a 2-core machine with a 3-layer MLP (see tests/test_tracking.py):
``pt2`` costs about 4-7 s on the first ``log_model`` of a process (``torch.export`` warms up
dynamo) and 0.2-0.3 s after that; ``pickle`` costs about 0.5 s first and 0.15 s after. ``pt2``
is the default because it is MLflow's safe format: ``pickle`` models only load when
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` is set (loading runs arbitrary code), and a ``pt2``
model loads without importing the class that defined it. The price: a loaded ``pt2`` model is a
``torch.fx.GraphModule`` with ``forward`` only (no custom methods) and a fixed number of inputs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:  # heavy imports stay inside the functions (dagster dev loads in seconds)
    import torch

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_UI_BASE = "http://127.0.0.1:5000"
REDACTED = "[redacted]"
SerializationFormat = Literal["pt2", "pickle"]

# Keys that may hold a credential. Substring match on purpose: "vlm_api_key", "hf_token",
# "openai_secret", "db_password" must all go; a harmless "sort_key" is redacted as well, which
# costs nothing but a param value.
_SECRET_KEY = re.compile(r"key|token|secret|password|passwd|credential|auth", re.IGNORECASE)
# Values that look like a credential whatever their key (OpenAI/OpenRouter "sk-...", Hugging
# Face "hf_...", GitHub "ghp_...", a bearer header), so a key that slipped under an innocent
# name ("endpoint_args") is not logged either.
_SECRET_VALUE = re.compile(
    r"(\bsk-[A-Za-z0-9_-]{8,}|\bhf_[A-Za-z0-9]{8,}|\bgh[pousr]_[A-Za-z0-9]{8,}|\bBearer\s+\S{8,})"
)
# MLflow rejects param values over 6000 characters (the whole batch fails); shorten instead.
_MAX_PARAM_CHARS = 6000
# Which process a run belongs to, "<host>/<pid>/<process start time>": a RUNNING run whose
# process is gone was killed (kill -9, a lost machine) and is closed as KILLED.
PROCESS_TAG = "comix.process"


def this_process() -> str:
    import psutil

    process = psutil.Process()
    return f"{socket.gethostname()}/{process.pid}/{process.create_time():.3f}"


def process_is_gone(tag: str) -> bool:
    """True when the process a ``PROCESS_TAG`` names has ended (on this host; a run of another
    host is never judged from here). A reused pid is told apart by its start time."""
    import psutil

    try:
        host, pid, started = tag.rsplit("/", 2)
        if host != socket.gethostname():
            return False
        return abs(psutil.Process(int(pid)).create_time() - float(started)) > 0.01
    except psutil.NoSuchProcess:
        return True
    except (ValueError, psutil.Error):
        return False


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Params as MLflow stores them (strings), with secret-looking keys or values redacted.

    Redacted rather than dropped: the run still shows that the setting existed, which helps
    when comparing runs, while the value never reaches the tracking store.
    """
    clean: dict[str, str] = {}
    for key, value in params.items():
        text = "None" if value is None else str(value)
        if is_secret_key(str(key)) or _SECRET_VALUE.search(text):
            clean[str(key)] = REDACTED
            continue
        if len(text) > _MAX_PARAM_CHARS:
            text = text[: _MAX_PARAM_CHARS - 3] + "..."
        clean[str(key)] = text
    return clean


def run_url(
    ui_base: str = DEFAULT_UI_BASE, run_id: str = "", experiment_id: str | None = None
) -> str:
    """A link to a run in the MLflow UI (``#/runs/<id>`` redirects to its experiment)."""
    base = ui_base.rstrip("/")
    if experiment_id is not None:
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{base}/#/runs/{run_id}"


def model_version_url(ui_base: str, name: str, version: int | str) -> str:
    """A link to a registered model version in the MLflow UI."""
    return f"{ui_base.rstrip('/')}/#/models/{quote(name, safe='')}/versions/{version}"


def sqlite_tracking_uri(db_path: str | Path) -> str:
    """``sqlite:///<absolute path>`` (``$COMIX_HOME/mlflow.db`` by the design's contract)."""
    return f"sqlite:///{Path(db_path).expanduser().resolve()}"


@dataclass(frozen=True)
class GateVerdict:
    """A registered version's evaluation gate, recomputed from the metrics its run logged."""

    model_name: str
    version: int
    passed: bool
    reasons: list[str]
    metrics: dict[str, float]
    champion_version: int | None
    model_version_url: str


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: int
    run_id: str
    # ``models:/<name>/<version>``: stable and readable, unlike the logged model's id URI.
    model_uri: str
    # ``models:/m-<id>``: MLflow 3's logged model, kept for tracing.
    logged_model_uri: str = ""


class Tracker:
    """One experiment in one tracking store, with the model registry in the same store.

    ``tracking_uri`` is for example ``sqlite:///$COMIX_HOME/mlflow.db`` and ``artifact_root``
    ``$COMIX_HOME/mlartifacts``. The experiment is created with that artifact location, so
    artifacts land beside the database instead of in ``./mlruns`` of whatever the cwd is.
    ``artifact_root`` may also be an object-store URL (``s3://bucket/mlartifacts``: MLflow's S3
    client takes its endpoint from ``MLFLOW_S3_ENDPOINT_URL`` and its keys from boto's
    variables), or None with a tracking server, whose ``--artifacts-destination`` decides.
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: str | Path | None,
        experiment: str,
        ui_base: str = DEFAULT_UI_BASE,
        serialization_format: SerializationFormat = "pt2",
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root: Path | str | None = (
            artifact_root
            if artifact_root is None or "://" in str(artifact_root)
            else Path(artifact_root).expanduser().resolve()
        )
        self.experiment = experiment
        self.ui_base = ui_base
        self.serialization_format = serialization_format
        self._experiment_id: str | None = None
        self._client: Any = None

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """An ``MlflowClient`` bound to this store (tracking and registry alike)."""
        if self._client is None:
            from mlflow import MlflowClient

            if self.tracking_uri.startswith("sqlite:///"):
                # SQLAlchemy creates the file but not its folder.
                Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                    parents=True, exist_ok=True
                )
            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            existing = self.client.get_experiment_by_name(self.experiment)
            if existing is None:
                if isinstance(self.artifact_root, Path):
                    self.artifact_root.mkdir(parents=True, exist_ok=True)
                self._experiment_id = self.client.create_experiment(
                    self.experiment, artifact_location=self.artifact_location
                )
            else:
                if existing.lifecycle_stage == "deleted":
                    self.client.restore_experiment(existing.experiment_id)
                # An experiment's artifact location is fixed at creation; say so instead of
                # silently writing somewhere the caller did not ask for.
                if self.artifact_location not in (None, existing.artifact_location):
                    logger.warning(
                        "experiment %r keeps its artifact location %s (not %s)",
                        self.experiment,
                        existing.artifact_location,
                        self.artifact_root,
                    )
                self._experiment_id = existing.experiment_id
        return self._experiment_id

    @property
    def artifact_location(self) -> str | None:
        """The experiment's artifact location as MLflow spells it (a URI)."""
        if isinstance(self.artifact_root, Path):
            return self.artifact_root.as_uri()
        return self.artifact_root

    def _use_store(self) -> None:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    # -- runs -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def start_run(
        self, run_name: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> Iterator[str]:
        """A run of this experiment, active for the ``with`` body; yields its run id.

        A run left by an exception is marked FAILED (MLflow's context manager does that), so a
        crashed training shows up as such in the UI; runs of this experiment left RUNNING by a
        killed process are closed as KILLED first (``close_abandoned_runs``).
        """
        import mlflow

        experiment_id = self.experiment_id
        self.close_abandoned_runs()
        self._use_store()
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags={**redact_params(tags or {}), PROCESS_TAG: this_process()},
        ) as run:
            yield run.info.run_id

    def close_abandoned_runs(self) -> list[str]:
        """Mark KILLED the RUNNING runs of this experiment whose process has ended; returns
        their ids. A run of a live process (another training right now) is left alone."""
        closed = []
        runs = self.client.search_runs(
            [self.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
        )
        for run in runs:
            tag = run.data.tags.get(PROCESS_TAG)
            if tag and process_is_gone(tag):
                self.client.set_terminated(run.info.run_id, status="KILLED")
                closed.append(run.info.run_id)
                logger.warning(
                    "MLflow run %s: its process %s is gone; marked KILLED", run.info.run_id, tag
                )
        return closed

    def _active_run_id(self) -> str:
        import mlflow

        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("no active run: call inside `with tracker.start_run(...)`")
        return run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> dict[str, str]:
        """Log params to the active run; secret-looking ones are redacted. Returns what went."""
        from mlflow.entities import Param

        clean = redact_params(params)
        if clean:
            self.client.log_batch(
                self._active_run_id(), params=[Param(k, v) for k, v in clean.items()]
            )
        return clean

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metrics to the active run (non-finite values are skipped: MLflow's UI charts
        break on them and they carry no comparison)."""
        import mlflow

        finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        if finite:
            mlflow.log_metrics(finite, step=step, run_id=self._active_run_id())

    # -- models -----------------------------------------------------------------------------

    def log_torch_model(
        self,
        model: torch.nn.Module,
        name: str,
        input_example: Any,
        pip_requirements: list[str],
        description: str = "",
        registered_model_name: str | None = None,
    ) -> ModelVersionInfo:
        """Log ``model`` to the active run and register it as a new version.

        ``input_example`` (a numpy array or tensor, or a tuple of them, batch size > 1 so the
        batch dimension is exported as dynamic) gives MLflow the signature and ``torch.export``
        its trace. The model is logged in eval mode, so dropout and batch norm are exported in
        their inference behaviour; its previous mode is restored afterwards.
        """
        import mlflow.pytorch

        run_id = self._active_run_id()
        registered = registered_model_name or name
        was_training = model.training
        model.eval()
        try:
            info = mlflow.pytorch.log_model(
                model,
                name=name,
                input_example=input_example,
                pip_requirements=list(pip_requirements),
                registered_model_name=registered,
                serialization_format=self.serialization_format,
            )
        finally:
            model.train(was_training)
        version = int(info.registered_model_version)
        if description:
            self.set_description(registered, version, description)
        return ModelVersionInfo(
            name=registered,
            version=version,
            run_id=run_id,
            model_uri=f"models:/{registered}/{version}",
            logged_model_uri=info.model_uri,
        )

    def log_artifacts(self, local_dir: str | Path, artifact_path: str) -> None:
        """Copy a folder into the active run's artifacts under ``artifact_path``."""
        self.client.log_artifacts(self._active_run_id(), str(local_dir), artifact_path)

    def download_artifacts(self, run_id: str, artifact_path: str, dst: str | Path) -> Path:
        """A run's artifact folder (or file), copied under ``dst``; returns its local path."""
        return Path(self.client.download_artifacts(run_id, artifact_path, str(dst)))

    def set_version_tag(self, model_name: str, version: int | str, key: str, value: str) -> None:
        self.client.set_model_version_tag(model_name, str(version), key, value)

    def log_json(self, payload: Any, artifact_file: str) -> None:
        """A JSON artifact of the active run."""
        self.client.log_text(
            self._active_run_id(), json.dumps(payload, sort_keys=True), artifact_file
        )

    def load_json(self, run_id: str, artifact_file: str) -> Any:
        with tempfile.TemporaryDirectory() as folder:
            return json.loads(self.download_artifacts(run_id, artifact_file, folder).read_text())

    def finished_version_with_tag(self, model_name: str, key: str, value: str) -> int | None:
        """The newest version tagged ``key=value`` whose run finished (a version registered by
        a run that was then killed is not trusted), or None."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name = '{model_name}'", max_results=1000)
        except MlflowException:
            return None
        for version in sorted(found, key=lambda v: int(v.version), reverse=True):
            if version.tags.get(key) != value or not version.run_id:
                continue
            if self.client.get_run(version.run_id).info.status == "FINISHED":
                return int(version.version)
        return None

    def epoch_logger(
        self, then: Callable[[int, dict[str, float]], None] | None = None
    ) -> Callable[[int, dict[str, float]], None]:
        """An ``on_epoch(epoch, metrics)`` for a training loop: logs the epoch's metrics to the
        active run with ``step=epoch``, then calls ``then`` (a caller's own hook)."""

        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            self.log_metrics(metrics, step=epoch)
            if then is not None:
                then(epoch, metrics)

        return log_epoch

    def log_folder(self, save: Callable[[Path], None], artifact_path: str) -> None:
        """``save(folder)`` writes files that go to the active run under ``artifact_path``."""
        with tempfile.TemporaryDirectory() as folder:
            save(Path(folder))
            self.log_artifacts(folder, artifact_path)

    def load_version_folder(
        self, model_name: str, version: int | str, artifact_path: str, load: Callable[[Path], T]
    ) -> T:
        """``load(folder)`` of an artifact folder of the run that logged this version."""
        run_id = self.client.get_model_version(model_name, str(version)).run_id
        with tempfile.TemporaryDirectory() as folder:
            return load(self.download_artifacts(run_id, artifact_path, folder))

    def gate_version(
        self,
        model_name: str,
        version: int | str,
        passed: bool,
        reasons: Sequence[str],
        metric: str,
        higher_is_better: bool = True,
        alias: str = "champion",
    ) -> tuple[bool, str]:
        """Tag the version with its evaluation gate (and why it failed), then
        ``promote_if_better``; returns its ``(promoted, reason)``."""
        self.set_version_tag(
            model_name, version, "evaluation_gate", "passed" if passed else "failed"
        )
        if reasons:
            self.set_version_tag(model_name, version, "gate_reasons", "; ".join(reasons))
        return self.promote_if_better(
            model_name,
            version,
            metric,
            higher_is_better=higher_is_better,
            gate_passed=passed,
            alias=alias,
        )

    def set_description(self, model_name: str, version: int | str | None, description: str) -> None:
        """Describe a model version, or the registered model itself when ``version`` is None."""
        if version is None:
            self.client.update_registered_model(model_name, description=description)
        else:
            self.client.update_model_version(model_name, str(version), description=description)

    def version_metrics(self, model_name: str, version: int | str) -> dict[str, float]:
        """The latest value of every metric of the run that logged this version."""
        model_version = self.client.get_model_version(model_name, str(version))
        if not model_version.run_id:
            return {}
        metrics = self.client.get_run(model_version.run_id).data.metrics
        return {name: float(value) for name, value in metrics.items()}

    def latest_version(self, model_name: str) -> int | None:
        """The newest registered version of ``model_name`` (None when there is none)."""
        from mlflow.exceptions import MlflowException

        try:
            versions = self.client.search_model_versions(f"name = '{model_name}'")
        except MlflowException:
            return None
        return max((int(v.version) for v in versions), default=None)

    def version_metric(self, model_name: str, version: int | str, metric: str) -> float | None:
        """The metric's latest value in the run that logged this version (None if absent)."""
        model_version = self.client.get_model_version(model_name, str(version))
        if not model_version.run_id:
            return None
        value = self.client.get_run(model_version.run_id).data.metrics.get(metric)
        return None if value is None else float(value)

    def champion_version(self, model_name: str, alias: str = "champion") -> int | None:
        from mlflow.exceptions import MlflowException

        try:
            return int(self.client.get_model_version_by_alias(model_name, alias).version)
        except MlflowException:  # no such alias (or model) yet
            return None

    def promote_if_better(
        self,
        model_name: str,
        version: int | str,
        metric: str,
        higher_is_better: bool,
        gate_passed: bool,
        alias: str = "champion",
    ) -> tuple[bool, str]:
        """Move ``alias`` to ``version`` when the gate passed and its metric beats the champion.

        Both metrics come from the runs that logged the versions, so the comparison is the
        one a person sees in the UI. A tie keeps the champion (no churn for equal models).
        Returns ``(promoted, reason)``; the reason is one sentence for asset metadata.
        """
        version = int(version)
        if not gate_passed:
            return False, f"version {version} failed its quality gate; {alias} unchanged"
        new_value = self.version_metric(model_name, version, metric)
        if new_value is None:
            return False, f"version {version} has no metric {metric!r}; {alias} unchanged"
        current = self.champion_version(model_name, alias)
        if current == version:
            return False, f"version {version} already is {alias}"
        if current is not None:
            current_value = self.version_metric(model_name, current, metric)
            if current_value is not None:
                better = (
                    new_value > current_value if higher_is_better else new_value < current_value
                )
                if not better:
                    return False, (
                        f"version {version} {metric}={new_value:.4g} does not beat {alias} "
                        f"version {current} {metric}={current_value:.4g}"
                    )
                reason = (
                    f"version {version} {metric}={new_value:.4g} beats version {current} "
                    f"{metric}={current_value:.4g}"
                )
            else:
                reason = f"{alias} version {current} has no metric {metric!r}; replaced"
        else:
            reason = f"first {alias}: version {version} {metric}={new_value:.4g}"
        self.client.set_registered_model_alias(model_name, alias, str(version))
        return True, reason

    def load_champion(
        self, model_name: str, alias: str = "champion", allow_pickle: bool = False
    ) -> torch.nn.Module:
        """The torch model that ``alias`` points at.

        ``allow_pickle`` is needed only for models logged with ``serialization_format=
        "pickle"``: it sets ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` for this call alone, since
        unpickling runs code from the artifact store (fine for our own local store, not for one
        that others write to).
        """
        import os

        import mlflow.pytorch

        self._use_store()
        uri = f"models:/{model_name}@{alias}"
        if not allow_pickle:
            return mlflow.pytorch.load_model(uri)
        variable = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
        previous = os.environ.get(variable)
        os.environ[variable] = "true"
        try:
            return mlflow.pytorch.load_model(uri)
        finally:
            if previous is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = previous

    # -- links ------------------------------------------------------------------------------

    def run_url(self, run_id: str) -> str:
        return run_url(self.ui_base, run_id, self.experiment_id)

    def model_version_url(self, name: str, version: int | str) -> str:
        return model_version_url(self.ui_base, name, version)
