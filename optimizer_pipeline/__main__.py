"""``python -m optimizer_pipeline``."""

from optimizer_pipeline.cli import main

raise SystemExit(main())
