"""`python -m signcaps …` (used by torchrun: `torchrun --nproc-per-node 2 -m signcaps train …`)."""
import signal
import sys


def _quit(signum: int, _frame: object) -> None:
    """Ctrl-C or SIGTERM while the CLI is still importing: exit 130 quietly (nothing is written yet)."""
    sys.exit(130)


signal.signal(signal.SIGINT, _quit)
signal.signal(signal.SIGTERM, _quit)
from signcaps.cli import app  # noqa: E402  (after the handlers: the imports take a second or two)

signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on: KeyboardInterrupt, handled per command
app()
