"""Deep Set speed and memory (run with ``pytest --benchmark-only``).

* Online inference memory: a fresh Python process per N restores a stream of
  N random 512x512 frames made one at a time by a generator; the peak RSS
  growth over the process's RSS before the stream (``ru_maxrss``, after
  imports, model load and one warm-up frame) must not grow with N: at N = 100
  at most 1.1x that at N = 2 (sec. 4.3 of Wieschollek et al. 2018: only one
  encoding and the accumulator are held).
* Throughput: views per second of :meth:`DeepSetMethod.restore` on 10 views
  at 256x256 and at 1024x1024 (the latter is tiled at 512).

Both use the shipped checkpoint when it exists (speed and memory do not depend
on the weights, only on the network's widths).
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from models.deepset import CHECKPOINT_PATH, DeepSet, DeepSetMethod

_MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np, torch
    from models.deepset import CHECKPOINT_PATH, DeepSet, load_checkpoint, restore_stream
    n, size = int(sys.argv[1]), int(sys.argv[2])
    model = load_checkpoint(CHECKPOINT_PATH)[0] if CHECKPOINT_PATH.is_file() else DeepSet().eval()
    rng = np.random.default_rng(0)
    def frames(k):
        for _ in range(k):
            yield rng.random((size, size, 3), dtype=np.float32)
    restore_stream(model, frames(1))  # warm-up: allocator pools, oneDNN primitives
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = restore_stream(model, frames(n))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kib": before, "peak_kib": peak, "finite": bool(np.isfinite(out).all())}))
    """
)


def _probe_memory(n: int, size: int) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(n), str(size)], capture_output=True, text=True, check=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_online_memory_constant_in_n(benchmark):
    size = 512
    small = _probe_memory(2, size)
    large = benchmark.pedantic(_probe_memory, args=(100, size), rounds=1, iterations=1)
    grow_small = small["peak_kib"] - small["before_kib"]
    grow_large = large["peak_kib"] - large["before_kib"]
    # A floor of one 512x512x3 float32 frame keeps the ratio meaningful if
    # the warm-up already reached the peak (growth 0) at N = 2.
    floor = size * size * 3 * 4 // 1024
    ratio = max(grow_large, floor) / max(grow_small, floor)
    benchmark.extra_info.update(
        {
            "frame": f"{size}x{size}",
            "n2_peak_rss_mib": small["peak_kib"] / 1024,
            "n100_peak_rss_mib": large["peak_kib"] / 1024,
            "n2_growth_mib": grow_small / 1024,
            "n100_growth_mib": grow_large / 1024,
            "growth_ratio": ratio,
            "peak_ratio": large["peak_kib"] / small["peak_kib"],
        }
    )
    assert small["finite"] and large["finite"]
    assert large["peak_kib"] <= 1.1 * small["peak_kib"]
    assert ratio <= 1.1, benchmark.extra_info


@pytest.fixture(scope="module")
def method():
    m = DeepSetMethod()
    if not CHECKPOINT_PATH.is_file():
        m._model = DeepSet().eval()  # untrained, same widths and speed
    return m


@pytest.mark.parametrize("size", [256, 1024])
def test_throughput(benchmark, method, size):
    n = 10
    views = np.random.default_rng(0).random((n, size, size, 3), dtype=np.float32)
    method.restore({"views": views[:1]})  # warm-up
    out = benchmark.pedantic(method.restore, args=({"views": views},), rounds=3, iterations=1)
    benchmark.extra_info.update(
        {"views": n, "size": size, "views_per_s": n / benchmark.stats.stats.mean, "tile": method.tile}
    )
    assert out.shape == (size, size, 3) and np.isfinite(out).all()
