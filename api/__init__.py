"""Entry points: settings, the composition root, the HTTP app and the ``oms`` CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oms-ledger")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0.0.0+unknown"
