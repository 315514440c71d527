"""Objects whose unpickling runs code: what an attacker would put in a .pt file. Each one
`touch`es a marker file, so a test can tell whether anything ran."""
from __future__ import annotations

import os
import subprocess


class RunsCommand:
    """Unpickling this calls os.system (what an attacker would put in a .pt file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsSubprocess:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


class Evals:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))
