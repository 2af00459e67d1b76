"""Deprecated: moved to ``config.api.problems``; this re-export goes in the next release.

Plugins import ``config.problems.Problem`` (docs/plugins.md), so the old path still works.
"""

from config.api.problems import *  # noqa: F403
