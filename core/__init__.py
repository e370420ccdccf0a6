"""tierctl: support tiers as code.

The engine is usable from Python without the CLI::

    from tierctl.config.loader import load_config
    from tierctl.host.plugin_host import PluginHost
    from tierctl.publish.render_engine import render_targets

    host = PluginHost.load()
    config = load_config("config.example.yaml", host)
    render_targets(config, host)
"""

__version__ = "0.1.0"
