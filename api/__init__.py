"""HTTP API and web view (FastAPI). Built on the control plane in ``maestro``."""
