"""tierctl's built-in jinja2 templates (``default:`` prefix in overrides)."""
