"""The wire protocol on the server side: `blender_addon/protocol.py`, loaded without running the add-on
package's `__init__` (which needs Blender's `bpy`; the server and its workers must never import it).

The module is registered as `blender_addon.protocol`, so a process that also imports the add-on
package (the tests) shares one module object and one `ProtocolError` class.
"""

import importlib.util
import sys
from pathlib import Path

_NAME = "blender_addon.protocol"
_PATH = Path(__file__).resolve().parents[2] / "blender_addon" / "protocol.py"


def _load():
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


protocol = _load()
