"""One page per client: what the pipeline knows about it, so the UI opens on results, not on an empty bucket."""
