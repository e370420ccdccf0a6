"""tierctl's first-party plugins, registered through the ``tierctl`` entry-point group."""
