"""`python -m encoderfile.cli`."""

from __future__ import annotations

import sys

from encoderfile.cli.main import main

sys.exit(main())
