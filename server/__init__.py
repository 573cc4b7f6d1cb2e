"""The advisor's server side: retrieval, scoring, answers and their HTTP and CLI surfaces."""

from server.app import create_app
from server.settings import Settings

__all__ = ["Settings", "create_app"]
