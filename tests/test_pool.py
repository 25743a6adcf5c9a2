"""The process pool: hard per-item timeouts, crashes and errors are recorded per item, the batch carries on, order is kept, no process outlives the pool."""
import multiprocessing as mp, os, time
import pytest
from ded_nb.pool import TimeoutPool, pool_map
from pool_helpers import square, misbehave, pid_of_worker

def alive(pid):
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        return open(f'/proc/{pid}/stat').read().split(')')[1].split()[0] != 'Z'
    except FileNotFoundError: return False

def test_results_in_input_order():
    res = pool_map(square, range(50), n_workers=2, timeout=10, progress=False)
    assert [r.value for r in res] == [x * x for x in range(50)]
    assert all(r.status == 'ok' for r in res)

def test_timeout_error_crash_recorded_and_batch_carries_on():
    items = ['a', 'hang', 'b', 'raise', 'exit', 'c', 'unpicklable', 'd']
    start = time.monotonic()
    with TimeoutPool(misbehave, n_workers=2, timeout=1.5) as pool:
        res = pool.map(items, progress=False)
        assert pool.restarts == 2  # the hung worker and the exited one were replaced
    assert time.monotonic() - start < 30
    assert [r.status for r in res] == ['ok', 'timeout', 'ok', 'error', 'crash', 'ok', 'error', 'ok']
    assert [r.value for r in res if r.ok] == ['a', 'b', 'c', 'd']
    assert 'RuntimeError: boom' in res[3].error
    assert 'exit code 3' in res[4].error

def test_pool_is_reusable_and_leaves_no_process():
    pool = TimeoutPool(pid_of_worker, n_workers=2, timeout=5)
    pids = {r.value for r in pool.map(range(20), progress=False)}
    pids |= {r.value for r in pool.map(range(20), progress=False)}  # second batch, same workers
    assert 1 <= len(pids) <= 2
    hung = TimeoutPool(misbehave, n_workers=1, timeout=0.5)
    hung_pid = hung.workers[0].proc.pid
    assert hung.map(['hang'], progress=False)[0].status == 'timeout'
    pool.close(); hung.close()
    time.sleep(0.2)
    assert not any(alive(p) for p in pids | {hung_pid})

def test_no_item_lost_with_many_timeouts():
    items = ['hang' if i % 5 == 0 else i for i in range(15)]
    res = pool_map(misbehave, items, n_workers=2, timeout=0.5, progress=False)
    assert len(res) == 15
    assert [r.status for r in res] == ['timeout' if i % 5 == 0 else 'ok' for i in range(15)]

def test_rejects_no_workers():
    with pytest.raises(ValueError, match='n_workers'): TimeoutPool(square, n_workers=0)
