"""Procedural 3-D street scenes and their offscreen renderer.

roadseg renders them as paired label maps (its embedded backend) and snow as
driving backgrounds; both record the scene dict in their params. A change to
what a scene dict renders to changes both tasks' samples, so it bumps both
formation versions.

* :mod:`generators.shared.streets.scene` - the street plan and camera
  (:func:`~generators.shared.streets.scene.sample_scene`), its coordinates
  and town styles;
* :mod:`generators.shared.streets.actors` - road users: vehicles, riders,
  pedestrians;
* :mod:`generators.shared.streets.geometry` - the primitives' triangle meshes;
* :mod:`generators.shared.streets.classes` - the CARLA tag table every
  primitive is labelled with, and its MICC-SRI reduction;
* :mod:`generators.shared.streets.render_embedded` - label maps, depth and
  shaded RGB with pyrender
  (:func:`~generators.shared.streets.render_embedded.render_scene`).
"""
