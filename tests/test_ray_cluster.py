"""The README's multi-node Ray recipe, run for real on one machine.

A head node started with ``ray start --head`` (no CPUs, like a dedicated head)
and two worker nodes started with ``ray start --address``, each its own set of
processes as on separate machines; the generator CLI writes the toy dataset
through them with ``--engine ray --ray-address`` and the bytes must equal an
in-process run's. Every shard task needs one CPU, so all of them ran on the
worker nodes.

Teardown stops only this cluster: each ``ray start --block`` runs in its own
session and takes its node's processes down with it on SIGTERM (SIGKILL to the
group after a grace period). ``ray stop`` is not used because it kills every
Ray process on the machine, other users' clusters and test runs included.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from generators.dataset import write_dataset
from tests._toy_task import make_toy_sample

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).with_name("ray")
N, SHARD = 7, 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if not p.name.startswith(".")}


class _Cluster:
    def __init__(self, tmp: str):
        self.tmp = tmp
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        # a loaded machine can take longer than Ray's 10 s to register a raylet
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_raylet_start_wait_time_s": "120"}

    def start_node(self, *args: str, name: str) -> None:
        k = len(self.procs)
        log = open(os.path.join(self.tmp, f"{name}.log"), "w")
        cmd = [str(RAY), "start", *args, "--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
               "--object-store-memory", str(80 * 1024**2), "--dashboard-agent-listen-port", str(_free_port()),
               "--min-worker-port", str(20000 + 1000 * k), "--max-worker-port", str(20999 + 1000 * k)]  # fmt: skip
        with log:
            self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True, cwd=self.tmp))  # fmt: skip

    def wait_for(self, nodes: int, cpus: int, timeout: float = 120) -> str | None:
        """None when ``nodes`` nodes with ``cpus`` CPUs in all are up, else why not."""
        deadline = time.monotonic() + timeout
        out = ""
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    return f"a `ray start` exited with {p.returncode}: {self.log_tail()}"
            r = subprocess.run([str(RAY), "status", "--address", self.address], env=self.env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
            out = r.stdout
            active = out.split("Active:")[-1].split("Pending:")[0] if "Active:" in out else ""
            have = len(re.findall(r"^\s*1 node_", active, re.M))
            total = re.search(r"/([\d.]+) CPU", out)
            if r.returncode == 0 and have == nodes and float(total.group(1) if total else 0) == cpus:
                return None
            time.sleep(1)
        return f"timed out waiting for {nodes} nodes / {cpus} CPUs; `ray status` said: {' '.join(out.split())[-300:]}"

    def log_tail(self) -> str:
        lines = []
        for path in sorted(Path(self.tmp).glob("*.log")):
            lines += [f"{path.name}: {line}" for line in path.read_text(errors="replace").splitlines()[-3:]]
        return " | ".join(lines)[-600:]

    def stop(self) -> None:
        for p in self.procs:
            with _suppress():
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with _suppress():  # whatever the node left in its session
                os.killpg(p.pid, signal.SIGKILL)
            if p.poll() is None:
                p.wait(timeout=10)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, ProcessLookupError)


@pytest.fixture
def ray_cluster():
    pytest.importorskip("ray")
    if not RAY.exists():
        pytest.skip(f"no `ray` command next to {sys.executable}")
    tmp = tempfile.mkdtemp(prefix="rb-ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    cluster = _Cluster(tmp)
    try:
        cluster.start_node("--head", "--port", str(cluster.port), "--num-cpus", "0", "--temp-dir", tmp,
                           "--include-dashboard=false", name="head")  # fmt: skip
        if why := cluster.wait_for(nodes=1, cpus=0):
            pytest.skip(f"`ray start --head` does not work in this sandbox: {why}")
        for i in range(2):  # one at a time: concurrent registrations time out on a loaded machine
            cluster.start_node("--address", cluster.address, "--num-cpus", "1", name=f"worker{i}")
            if why := cluster.wait_for(nodes=2 + i, cpus=1 + i):
                pytest.skip(f"`ray start --address` does not work in this sandbox: {why}")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_cli_through_a_multi_node_ray_cluster_gives_the_local_bytes(ray_cluster, tmp_path):
    local = tmp_path / "local"
    write_dataset(make_toy_sample, n=N, out=local, seed=0, shard_size=SHARD, workers=1, generator="toy",
                  params={"size": 12}, progress=False)  # fmt: skip
    out = tmp_path / "cluster"
    cmd = [sys.executable, "-m", "tests._toy_task", "--out", str(out), "--n", str(N), "--shard-size", str(SHARD),
           "--engine", "ray", "--ray-address", ray_cluster.address, "--no-progress"]  # fmt: skip
    r = subprocess.run(cmd, cwd=tmp_path, env={**ray_cluster.env, "PYTHONPATH": str(REPO)},
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, f"{r.stderr[-2000:]} | {ray_cluster.log_tail()}"
    assert f"{N} samples in 3 shards, {N} made" in r.stdout
    assert _files(out) == _files(local)
    # the cluster outlives the driver: a second run verifies and makes nothing
    r = subprocess.run(cmd, cwd=tmp_path, env={**ray_cluster.env, "PYTHONPATH": str(REPO)},
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0 and "nothing to make" in r.stdout, r.stderr
