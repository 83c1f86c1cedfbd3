"""Running calls: the per-call driver shared by every front end, and its services."""

from ivr.call.runner import CallRunner
from ivr.call.services import CallServices

__all__ = ["CallRunner", "CallServices"]
