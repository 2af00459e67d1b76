"""Deprecated (one release): moved to ``absurd_core.actions.tasks``; import it from there.

This name is the very same module object (old imports and monkeypatches keep working).
"""

import sys

from absurd_core.actions import tasks as _moved

sys.modules[__name__] = _moved
