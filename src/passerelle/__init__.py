"""passerelle: run a health-data research hub on any cloud, and move it live between clouds.

The public API is re-exported from the subpackages; nothing heavy is imported here.
"""

from passerelle.errors import PasserelleError, TerminalError, TransientError

__version__ = "0.1.0"

__all__ = ["PasserelleError", "TerminalError", "TransientError", "__version__"]
