"""`python -m poseexport` is the `poseexport` command."""
import sys

from .cli import main

sys.exit(main())
