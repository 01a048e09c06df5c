"""Entry points: settings, the composition root, the HTTP app and the ``oms`` CLI."""
