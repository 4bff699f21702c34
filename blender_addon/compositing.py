"""A render that composites over the plate (bpy only): the plate as the plate camera's background and in
the compositor, the film transparent, and the head rendered over it, as a holdout, or as a shadow catcher.

The compositor's tree is the node group `headfuse over plate`: Movie Clip (the plate, in step with the
timeline through the clip's own start frame) -> Alpha Over background, Render Layers -> foreground ->
Group Output. The view transform is set to Standard so that the plate's pixels come out as they went in.
"""

import bpy

from .importer import ensure_rig

GROUP = "headfuse over plate"

HEAD_MODES = (
    ("OVER", "Head over plate", "Render the head over the plate"),
    ("HOLDOUT", "Holdout", "The head cuts the plate's own head out of CG in front of it (EEVEE, Cycles)"),
    ("SHADOW_CATCHER", "Shadow catcher", "The head is invisible but catches the shadows CG casts on it (Cycles)"),
)
"""How the reconstructed head takes part in the render."""


def plate_clip(camera: bpy.types.Object) -> bpy.types.MovieClip | None:
    """The movie clip behind the plate camera (set when the first frame arrived), or None."""
    backgrounds = camera.data.background_images
    return backgrounds[0].clip if len(backgrounds) and backgrounds[0].source == "MOVIE_CLIP" else None


def _node_group(clip: bpy.types.MovieClip) -> bpy.types.NodeTree:
    group = bpy.data.node_groups.get(GROUP)
    if group is None:
        group = bpy.data.node_groups.new(GROUP, "CompositorNodeTree")
        group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        nodes, links = group.nodes, group.links
        layers, plate = nodes.new("CompositorNodeRLayers"), nodes.new("CompositorNodeMovieClip")
        over, out = nodes.new("CompositorNodeAlphaOver"), nodes.new("NodeGroupOutput")
        plate.name = "plate"
        links.new(plate.outputs["Image"], over.inputs["Background"])
        links.new(layers.outputs["Image"], over.inputs["Foreground"])
        links.new(over.outputs["Image"], out.inputs["Image"])
    group.nodes["plate"].clip = clip
    return group


def composite_over_plate(scene: bpy.types.Scene, name: str, head: str = "OVER") -> bpy.types.NodeTree:
    """Set `scene` up to render the reconstruction `name` over its plate, the head as `head` (one of
    `HEAD_MODES`); returns the compositor's node group. ValueError when there is no plate yet."""
    rig = ensure_rig(scene, name)
    clip = plate_clip(rig["camera"])
    if clip is None:
        raise ValueError(f"{name}: no plate yet (it is set when the first frame arrives, from the video)")
    if head not in {key for key, _, _ in HEAD_MODES}:
        raise ValueError(f"head mode {head!r}: expected one of {', '.join(k for k, _, _ in HEAD_MODES)}")
    scene.camera = rig["camera"]
    scene.render.film_transparent = True
    scene.render.use_compositing = True
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure, scene.view_settings.gamma = 0.0, 1.0
    scene.compositing_node_group = _node_group(clip)
    for obj in [rig["sequence"], *(rig["frames"].objects if rig["frames"] is not None else [])]:
        obj.is_holdout = head == "HOLDOUT"
        obj.is_shadow_catcher = head == "SHADOW_CATCHER"
    if head == "SHADOW_CATCHER":
        scene.render.engine = "CYCLES"  # only Cycles has shadow catchers
    return scene.compositing_node_group
