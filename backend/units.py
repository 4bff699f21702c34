"""The one place that maps the field's box units to metres.

The field lives in the box [-0.5, 0.5]^3 (EG3D, box_warp 1). A synthetic or reconstructed head is
about 0.76 box units from chin to crown; a real adult head is about 0.25 m, so one box unit is
0.33 m. Everything written for other tools (meshes, poses, cameras) is in metres.
"""

METRES_PER_BOX_UNIT = 0.33


def box_to_metres(x):
    """Box units -> metres (works on floats, numpy arrays and tensors)."""
    return x * METRES_PER_BOX_UNIT


def metres_to_box(x):
    """Metres -> box units."""
    return x / METRES_PER_BOX_UNIT
