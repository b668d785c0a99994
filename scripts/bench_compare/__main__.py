"""`python -m scripts.bench_compare` (from the checkout): the benchmark's command line."""

import sys

from scripts.bench_compare.cli import main

sys.exit(main())
