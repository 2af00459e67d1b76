"""Plugin panels: cards on the overview, each rendered on its own.

A panel whose context function or template raises is shown as failed (and
logged); the overview itself always renders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from plugins.base import installed_plugins

logger = logging.getLogger("dashboard.panels")


@dataclass(frozen=True)
class RenderedPanel:
    plugin: str
    title: str
    html: str
    failed: bool = False


def render_panels(request, principal) -> list[RenderedPanel]:
    rendered = []
    for plugin in installed_plugins():
        for panel in plugin.panels:
            try:
                context = {"principal": principal, "scope": principal.scope if principal else None}
                if panel.context:
                    context.update(import_string(panel.context)(request, principal) or {})
                html = render_to_string(panel.template, context, request=request)
                rendered.append(RenderedPanel(plugin.plugin_name, panel.title, html))
            except Exception:
                logger.exception(
                    "panel failed: plugin=%s panel=%s", plugin.plugin_name, panel.title
                )
                rendered.append(RenderedPanel(plugin.plugin_name, panel.title, "", failed=True))
    return rendered
