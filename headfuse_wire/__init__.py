"""What the backend and the Blender add-on share, and nothing else: the wire protocol (`protocol`),
the job options (`options`), the triplane layout of the preview shader (`triplane_pack`) and the
units and axes (`conventions`).

Pure Python plus numpy, importing neither side. `make addon` bundles this package inside the add-on's
zip; modules import each other relatively so that it works there too.
"""
