"""The one place that maps the field's box units to metres.

The field lives in the box [-0.5, 0.5]^3 (EG3D, box_warp 1). Framed like an FFHQ portrait by the
default camera (which spans 0.63 box units at the pivot), a head is about 0.58 box units from chin
to crown, hair included (the synthetic template head); a real adult head is about 0.25 m, so one
box unit is 0.43 m. Everything written for other tools (meshes, poses, cameras) is in metres.
"""

METRES_PER_BOX_UNIT = 0.43


def box_to_metres(x):
    """Box units -> metres (works on floats, numpy arrays and tensors)."""
    return x * METRES_PER_BOX_UNIT


def metres_to_box(x):
    """Metres -> box units."""
    return x / METRES_PER_BOX_UNIT
