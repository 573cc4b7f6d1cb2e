"""HTTP routers, one per area; wiring lives in ``server.deps``."""
