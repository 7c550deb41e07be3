"""optimizer-pipeline: which short-video creative patterns win, found with honest statistics.

Importing the package has no side effects and does not import Dagster; the code location lives in
``optimizer_pipeline.definitions``.
"""

__version__ = "0.1.0"
