"""Value and type casting (API.md 3.2), implemented in C by ``sematic._core``."""
from sematic._core import can_cast_type, safe_cast

__all__ = ["safe_cast", "can_cast_type"]
