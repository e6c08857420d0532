"""Kubernetes on paper: the Helm values for the official Dagster chart and our own manifests,
checked offline. The Kubernetes objects (our manifests, and every pod-level block inside the
values, placed in a Pod) are validated against the API schemas that `kubernetes-validate`
ships; the values are checked to carry the same instance settings as the local stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from comix_resources.instance import stack_instance_config
from comix_resources.stack.placement import GPU_STEP_TAGS, K8S_CONFIG_TAG, POOLS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = "1.33"  # a version every supported managed service runs
MANIFESTS = ["comix-env.example.yaml", "mlflow.yaml", "pools-job.yaml"]
# Top-level keys of the chart's values (its values schema, chart 1.13): a typo here would be
# ignored by Helm without a word.
CHART_KEYS = {
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "imagePullSecrets",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "global",
    "retention",
    "concurrency",
    "additionalInstanceConfig",
}


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


def _validate(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES, strict=True)


def _pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "check"},
        "spec": {"containers": [{"name": "check", "image": "comix:test", **container}], **spec},
    }


@pytest.mark.parametrize("name", MANIFESTS)
def test_our_manifests_are_valid_kubernetes(name: str) -> None:
    documents = [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text()) if doc]
    assert documents
    for document in documents:
        _validate(document)


def test_an_invalid_manifest_is_caught() -> None:
    broken = _pod({"resources": {"limits": {"memory": "lots"}}, "ports": [{"port": 1}]})
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(broken)


def test_values_use_only_keys_the_chart_knows(values: dict[str, Any]) -> None:
    assert set(values) <= CHART_KEYS, set(values) - CHART_KEYS


def test_the_code_location_pod_blocks_are_valid(values: dict[str, Any]) -> None:
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "comix_assets.definitions"]
    _validate(
        _pod(
            {
                "env": deployment["env"],
                "envFrom": [{"secretRef": secret} for secret in deployment["envSecrets"]],
                "resources": deployment["resources"],
                "volumeMounts": deployment["volumeMounts"],
            },
            volumes=deployment["volumes"],
        )
    )
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    _validate(_pod({"volumeMounts": launcher["volumeMounts"]}, volumes=launcher["volumes"]))
    environment = {item["name"]: item["value"] for item in deployment["env"]}
    assert environment["COMIX_EXECUTOR"] == "k8s"
    assert environment["COMIX_LAKE_URL"].startswith("s3://")
    texts = [yaml.safe_dump(values)] + [(DEPLOY / name).read_text() for name in MANIFESTS[1:]]
    for text in texts:
        assert "AWS_SECRET_ACCESS_KEY:" not in text  # keys only in the Secret


def test_values_carry_the_local_stacks_instance_settings(values: dict[str, Any]) -> None:
    local = stack_instance_config(max_concurrent_runs=1)
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["startTimeoutSeconds"] == local["run_monitoring"]["start_timeout_seconds"]
    assert monitoring["pollIntervalSeconds"] == local["run_monitoring"]["poll_interval_seconds"]
    assert (
        values["concurrency"]["pools"]["granularity"]
        == local["concurrency"]["pools"]["granularity"]
    )
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # The run limit lives in one place only (Dagster refuses it under both).
    assert values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] == {}
    pools_job = yaml.safe_load((DEPLOY / "pools-job.yaml").read_text())
    script = pools_job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert [f"concurrency set {pool} " in script for pool in POOLS] == [True] * len(POOLS)


def test_gpu_steps_ask_kubernetes_for_a_gpu(comix_env: Path) -> None:
    from dagster_k8s.job import get_user_defined_k8s_config

    from comix_assets.definitions import build_definitions
    from comix_resources.settings import ComixSettings

    defs = build_definitions(ComixSettings.from_env())
    step = defs.resolve_job_def("closure_lite_job").graph.node_dict["closure_lite"]
    # What dagster-k8s reads from the step when k8s_job_executor starts its pod.
    config = get_user_defined_k8s_config(step.definition.tags)
    assert config.container_config["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert config.pod_spec_config["tolerations"][0]["key"] == "nvidia.com/gpu"
    _validate(_pod(config.container_config, **config.pod_spec_config))
    assert GPU_STEP_TAGS[K8S_CONFIG_TAG]["container_config"] == config.container_config
