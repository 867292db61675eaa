"""``python -m innovation_samples`` is ``innovation-samples``."""

import sys

from innovation_samples.cli import main

sys.exit(main())
