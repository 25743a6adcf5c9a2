"""vLLM tensor parallelism on CPU: greedy outputs of `tensor_parallel_size=2` (two worker processes, one CPU core each)
equal `tensor_parallel_size=1` token for token on the tiny teacher. Runs in `make test-vllm` only (the vllm venv).

TP=2 runs first, so an engine of another size afterwards shows the binding was undone; it needs two cores."""
import os

import pytest

vllm = pytest.importorskip('vllm')
from ded_nb.generate import SamplingParams, generate, make_backend
from ded_nb.world import build_tiny_world, default_zoo


def test_tensor_parallel_2_gives_the_tp1_greedy_outputs(monkeypatch):
    world = build_tiny_world(default_zoo(), progress=False)
    questions = [p.question for p in world.problems['chain']['test'][:32]]
    params = SamplingParams(max_new_tokens=96)
    outputs = {}
    for tp in (2, 1):
        monkeypatch.delenv('VLLM_CPU_OMP_THREADS_BIND', raising=False)  # the backend binds each worker (`cpu_worker_binding`)
        backend = make_backend('vllm', 'tiny:teacher-verbose', world, dtype='float32', max_model_len=1024,
                               enforce_eager=True, tensor_parallel_size=tp)
        outputs[tp] = [c[0].token_ids for c in generate(backend, questions, params, batch_size=32, progress=False)]
        del backend
        assert 'VLLM_CPU_OMP_THREADS_BIND' not in os.environ  # TP=2's binding does not outlive its engine
    same = sum(a == b for a, b in zip(outputs[1], outputs[2]))
    print(f'\nTP=2 vs TP=1: {same}/{len(questions)} prompts identical token for token')
    assert same == len(questions)
