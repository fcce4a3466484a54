"""Generator parts that no single task owns: several tasks use them, none imports another.

* :mod:`generators.shared.covers` - cover and occluder textures: procedural
  book covers, patterns, the packaged photographs, user folders of images
  (bookcovers, coverrefs, coverfill, reflections, captions, snow, the cover
  scene and the content library).
* :mod:`generators.shared.colour` - the sRGB transfer functions (the cover
  scene's renderers, reflections, coverrefs).
* :mod:`generators.shared.content` - photographic content: parametric
  dead-leaves images and the content mix (reflections; captions, coverfill
  and snow still draw from ``covers``).
* :mod:`generators.shared.coverscene` - the cover scene (a book cover on a
  table, occluders, lights), its fast and Blender renderers and
  :func:`~generators.shared.coverscene.render` (bookcovers, coverrefs).
* :mod:`generators.shared.streets` - procedural 3-D street scenes, their
  road users, CARLA classes and offscreen renderer (roadseg, snow).

Layering: the base layer (:mod:`generators.task`, :mod:`generators.metrics`,
:mod:`generators._runtime`, :mod:`generators.dataset`) < this package < the
task packages; ``tests/test_layering.py`` enforces it.
"""
