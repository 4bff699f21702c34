"""Box units <-> metres (the scale is `headfuse_wire.conventions.METRES_PER_BOX_UNIT`, shared with the add-on)."""

from headfuse_wire.conventions import METRES_PER_BOX_UNIT


def box_to_metres(x):
    """Box units -> metres (works on floats, numpy arrays and tensors)."""
    return x * METRES_PER_BOX_UNIT


def metres_to_box(x):
    """Metres -> box units."""
    return x / METRES_PER_BOX_UNIT
