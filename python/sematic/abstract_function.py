"""Where Sematic users import FunctionError from."""
from sematic.utils.exceptions import FunctionError

__all__ = ["FunctionError"]
