"""Native libraries' chatter kept off the terminal: MediaPipe's C++ (absl, TFLite) logs a screenful of
notices when its graphs start, and FFmpeg inside OpenCV logs every container it fails to parse. No user can
act on them, and they would bury our one-line errors (which say what went wrong instead)."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block (Python's own `sys.stderr` is flushed first and
    works again after it)."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
