"""Public helpers to read what pipelines recorded (Sematic's ``sematic.client``)."""
from sematic.api_client import block_on_run, get_run_output  # noqa: F401
from sematic.api_client import get_artifact_value_by_id as get_artifact_value  # noqa: F401
