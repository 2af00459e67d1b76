"""Deprecated (one release): moved to ``absurd_core.queries.tasks``; import it from there.

This name is the very same module object (old imports and monkeypatches keep working).
"""

import sys

from absurd_core.queries import tasks as _moved

sys.modules[__name__] = _moved
