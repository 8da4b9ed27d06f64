"""REST API (FastAPI) under /api/v1: thin routers over the domain services."""
