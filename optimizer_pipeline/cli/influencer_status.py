"""``optimizer-pipeline influencer-status``: record one outreach status change from the command line.

The change is validated (client, handle, assigned creative, allowed transition) before it is appended to
``<home>/testloop/<client>/status_log.jsonl``; ``influencer_status_sensor`` re-materialises ``traffic_sources`` for
the client (or it applies at the next materialisation when no daemon runs).
Like ``registry sync``, the command runs outside Dagster, so it asks ``defs/resources.py`` for the registry file and
the home the resources use (``OPTIMIZER_CLIENTS_FILE``, ``OPTIMIZER_HOME`` / ``DAGSTER_HOME``), and reads the last
``traffic_sources`` table through the IO manager's layout (``resources/parquet_io.py``).
"""

from __future__ import annotations

import argparse
import sys


def influencer_status(args: argparse.Namespace) -> int:
    """Exit code 0 when the entry was appended, 1 with the reason on stderr when it was refused."""
    from optimizer_pipeline.defs.resources import clients_file, data_home
    from optimizer_pipeline.lib.registry.clients import load_registry
    from optimizer_pipeline.lib.testloop.status_update import record_status
    from optimizer_pipeline.resources.parquet_io import read_asset

    clients = args.clients or clients_file()
    home = args.home or data_home()
    try:
        registry = load_registry(clients)
        entry, previous, path = record_status(
            registry,
            args.client,
            args.handle,
            args.creative,
            args.status,
            home=home,
            previous=read_asset(home, "traffic_sources", args.client),
            note=args.note,
        )
    except ValueError as exc:  # RegistryError, StatusError, CreativesError, RosterError
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.client}: @{entry.handle} × {entry.creative_id}: {previous} → {entry.status} at {entry.at} "
        f"(logged to {path}; influencer_status_sensor applies it to traffic_sources[{args.client}] "
        "when the daemon runs, else materialise it)"
    )
    return 0
