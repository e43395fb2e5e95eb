"""`python -m course_lib.translator`: see cli.py."""

import sys

from .cli import main

sys.exit(main())
