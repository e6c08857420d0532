"""The search web app (issue 5): a FastAPI page and JSON API over the search bundle.

``create_app`` builds the app (``app`` module docstring documents the API), ``serve`` runs it
with uvicorn (the ``comix serve`` command), ``engine`` holds the query logic and ``bench``
measures latency through HTTP. FastAPI and uvicorn are imported only here, not by the assets.
"""

from comix_resources.webapp.serve import serve

__all__ = ["serve"]
