"""Shared building blocks: duration buckets, slugs, hashing, atomic files, YAML, Markdown and plots."""
