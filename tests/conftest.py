"""Shared pytest setup: make the test helpers importable, keep the 2-core CI machine calm."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("RAYON_NUM_THREADS", "2")
