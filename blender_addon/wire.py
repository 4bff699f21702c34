"""The wire package (`headfuse_wire`: protocol, client, job options, preview layout, units and axes)
as the add-on sees it: bundled inside the installed extension, or the repository's own package when
the add-on runs from a checkout (tests, `make demo`)."""

import importlib
import importlib.util

_BUNDLED = f"{__package__}.headfuse_wire"
_PACKAGE = _BUNDLED if importlib.util.find_spec(_BUNDLED) is not None else "headfuse_wire"

client = importlib.import_module(f"{_PACKAGE}.client")
conventions = importlib.import_module(f"{_PACKAGE}.conventions")
options = importlib.import_module(f"{_PACKAGE}.options")
protocol = importlib.import_module(f"{_PACKAGE}.protocol")
triplane_pack = importlib.import_module(f"{_PACKAGE}.triplane_pack")
