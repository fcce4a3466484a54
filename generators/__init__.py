"""RestoreBench's generators: one package per task (see the README's "Where things live").

Importing this package holds numpy's and OpenCV's CPU dispatch below AVX-512 before they load
(:func:`generators._runtime.pin_simd`), so that a sample's bytes are the same on
machines with and without AVX-512; every entry point (``python -m generators.<task>``,
``benchmarks``, ``baselines``, ``models``, the tests) imports it first.
"""

from generators._runtime import pin_simd as _pin_simd

SIMD_PINNED_AT_IMPORT = _pin_simd()
