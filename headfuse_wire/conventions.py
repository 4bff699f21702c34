"""Units and axes shared by the backend and the add-on (one declaration of each).

The field lives in the box [-0.5, 0.5]^3 (EG3D, box_warp 1). Framed like an FFHQ portrait by the
default camera (which spans 0.63 box units at the pivot), a head is about 0.58 box units from chin
to crown, hair included (the synthetic template head); a real adult head is about 0.25 m, so one
box unit is 0.43 m. Everything written for other tools (meshes, poses, cameras) is in metres, with
+y up. Cameras on the wire use OpenCV axes (x right, y down, z forward); Blender's cameras look down
-z with +y up.
"""

import numpy as np

METRES_PER_BOX_UNIT = 0.43
"""Metres per unit of the field's box."""

CV_TO_BLENDER = np.diag([1.0, -1.0, -1.0, 1.0])
"""`[4, 4]`, flips y and z: OpenCV camera axes (x right, y down, z forward) <-> Blender camera axes
(x right, y up, looking down -z). It is its own inverse."""
