"""The market loop's data: scraping, replayed exports, normalisation, bucket selection, video files."""
