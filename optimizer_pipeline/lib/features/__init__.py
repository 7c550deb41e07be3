"""Video creative features: every video becomes one fixed-schema row of visual, audio and temporal features.

``extract_video_features(path)`` is the single entry point the pipeline uses; ``FEATURE_DICTIONARY`` describes
every column (unit, how measured, report phrase, direction) and ``feature_columns()`` lists them in order.
No Dagster here: this package is plain functions over a file path.
"""

from .audio import warm_up
from .dictionary import FEATURE_DICTIONARY, FEATURE_VERSION, FeatureSpec, feature_columns, pacing_label
from .errors import VideoDecodeError
from .extract import VideoAnalysis, analyze_video, extract_video_features
from .visual import detect_cuts

__all__ = [
    "FEATURE_DICTIONARY",
    "FEATURE_VERSION",
    "FeatureSpec",
    "VideoAnalysis",
    "VideoDecodeError",
    "analyze_video",
    "detect_cuts",
    "extract_video_features",
    "feature_columns",
    "pacing_label",
    "warm_up",
]
