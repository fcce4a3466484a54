"""Generator parts that no single task owns: several tasks use them, none imports another.

* :mod:`generators.shared.covers` - cover and occluder textures: procedural
  book covers, patterns, the packaged photographs, user folders of images
  (bookcovers, coverfill, reflections, captions).
* :mod:`generators.shared.colour` - the sRGB transfer functions (bookcovers'
  renderers, reflections).

Layering: the base layer (:mod:`generators.task`, :mod:`generators.metrics`,
:mod:`generators._runtime`, :mod:`generators.dataset`) < this package < the
task packages; ``tests/test_layering.py`` enforces it.
"""
