"""The scale-out stack on one machine: PostgreSQL, Redis, SeaweedFS (S3), MLflow, Dagster's
webserver and daemon, and Celery workers, started and stopped by pid (``comix stack``)."""

from comix_resources.stack.config import StackConfig
from comix_resources.stack.stack import ServiceStatus, Stack, StackAlreadyUp, StackState

__all__ = ["ServiceStatus", "Stack", "StackAlreadyUp", "StackConfig", "StackState"]
