"""What a piece of code imports, seen from a fresh interpreter (cold-start rules)."""

from __future__ import annotations

import subprocess
import sys


def modules_loaded_by(code: str, prefix: str = "workflow_scheduler.domain.triggers.") -> set[str]:
    """The modules under ``prefix`` that running ``code`` in a new interpreter has imported."""
    probe = f"import sys\n{code}\nprint('\\n'.join(m for m in sys.modules if m.startswith({prefix!r})))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(done.stdout.split())
