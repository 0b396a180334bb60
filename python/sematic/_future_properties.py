"""FutureProperties (API.md 2.4), imported on first use by ``sematic.abstract_future``.

It lives in its own module so that ``import sematic`` does not import
dataclasses; its public home stays ``sematic.abstract_future.FutureProperties``.
"""
from dataclasses import dataclass, field
from typing import List, Optional

from sematic.abstract_future import FutureState, validate_timeout_mins
from sematic.resolvers.resource_requirements import ResourceRequirements
from sematic.retry_settings import RetrySettings


@dataclass
class FutureProperties:
    """Properties of a future that users may read and, through ``Future.set``, change."""

    standalone: bool
    name: str
    tags: List[str] = field(default_factory=list)
    state: FutureState = FutureState.CREATED
    cache: bool = False
    resource_requirements: Optional[ResourceRequirements] = None
    retry_settings: Optional[RetrySettings] = None
    base_image_tag: Optional[str] = None
    timeout_mins: Optional[int] = None
    scheduled_epoch_time: Optional[float] = None

    def __post_init__(self) -> None:
        validate_timeout_mins(self.timeout_mins)


FutureProperties.__module__ = "sematic.abstract_future"
