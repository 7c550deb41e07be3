"""The embedded default's generators (video corpus, competitor items, conversion events) and scoring."""
