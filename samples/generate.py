#!/usr/bin/env python3
"""Write the sample logs and registry into this folder (or OUT_DIR): python samples/generate.py [OUT_DIR]."""

import sys
from pathlib import Path

from mlrel_cli.samples import main

main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
