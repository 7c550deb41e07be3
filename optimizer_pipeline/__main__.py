"""``python -m optimizer_pipeline``."""

from optimizer_pipeline.cli.main import main

raise SystemExit(main())
