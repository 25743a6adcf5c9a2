"""Building a tiny world: two processes asking for the same world train each model once (the build lock)."""
import subprocess
import sys

BUILD = """
import sys
from ded_nb.world import build_tiny_world, micro_zoo
build_tiny_world(micro_zoo(), sys.argv[1], progress=True)
"""


def test_two_processes_building_one_world_train_each_model_once(tmp_path):
    procs = [
        subprocess.Popen([sys.executable, '-c', BUILD, str(tmp_path)], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    logs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    started = sum(log.count('building base:') for log in logs)
    assert started == 1, f'the base was trained {started} times'
    world = next(tmp_path.glob('tiny-world-*'))
    assert (world / 'world.json').exists()
    assert not list(world.glob('models/*.tmp'))
