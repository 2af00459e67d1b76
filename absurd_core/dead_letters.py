"""Deprecated (one release): moved to ``absurd_core.actions.dead_letters``; import it from there.

This name is the very same module object (old imports and monkeypatches keep working).
"""

import sys

from absurd_core.actions import dead_letters as _moved

sys.modules[__name__] = _moved
