"""The plugin contract and the built-in plugins. See docs/plugins.md."""
