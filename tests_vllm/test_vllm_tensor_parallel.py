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


def test_the_recipes_tensor_parallel_size_reaches_the_engine_a_stage_starts(monkeypatch):
    """A recipe's `engine` settings are what a stage's engine starts with (`Recipe.run_options` -> `as_backend`): TP=2
    from the profile, and with no `max_model_len` a context of the longest prompt asked + `max_new_tokens`."""
    from ded_nb.evaluate import as_backend
    from ded_nb.recipe import apply_overrides, load_recipe

    monkeypatch.delenv('VLLM_CPU_OMP_THREADS_BIND', raising=False)
    world = build_tiny_world(default_zoo(), progress=False)
    recipe = apply_overrides(load_recipe('tiny'), ['backend=vllm', 'engine.tensor_parallel_size=2'])
    model, params = 'tiny:teacher-verbose', SamplingParams(max_new_tokens=16)
    options = recipe.run_options(model)
    backend = as_backend(model, world, options['backend'], options['engine'])
    questions = [p.question for p in world.problems['chain']['test'][:4]]
    generate(backend, questions, params, progress=False)
    assert backend.llm.llm_engine.vllm_config.parallel_config.tensor_parallel_size == 2
    assert backend.context == backend.need(questions, params) < 1024


def _replica_processes():
    "This process's live descendants that replicas start (the replicas and their engines' processes)."
    import psutil
    return [p for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE and 'resource_tracker' not in ' '.join(p.cmdline())]


def test_the_recipes_data_parallel_size_runs_engines_side_by_side_and_changes_no_sample(monkeypatch):
    """`engine.data_parallel_size=2` from the recipe: two engines, each in its own process on its own core, the rows
    dealt out between them; every sampled row equals the one engine's (a row's seed is its own), and `release_engines`
    ends both processes."""
    import time
    from ded_nb.evaluate import as_backend
    from ded_nb.generate import VLLMReplicas, release_engines
    from ded_nb.recipe import apply_overrides, load_recipe

    monkeypatch.delenv('VLLM_CPU_OMP_THREADS_BIND', raising=False)
    release_engines()
    world = build_tiny_world(default_zoo(), progress=False)
    questions = [p.question for p in world.problems['chain']['test'][:8]]
    params = SamplingParams(n=2, temperature=0.9, max_new_tokens=48, seed=5)
    model, outputs, before = 'tiny:teacher-noisy', {}, len(_replica_processes())
    for dp in (2, 1):
        recipe = apply_overrides(load_recipe('tiny'), ['backend=vllm', f'engine.data_parallel_size={dp}'])
        options = recipe.run_options(model)
        backend = as_backend(model, world, options['backend'], options['engine'])
        outputs[dp] = [[c.token_ids for c in cs] for cs in generate(backend, questions, params, progress=False)]
        if dp == 2:
            assert isinstance(backend, VLLMReplicas) and len(backend.workers) == 2
            assert all(p.is_alive() for p, _ in backend.workers)
            running = len(_replica_processes())
        release_engines()
    deadline = time.time() + 60
    while len(_replica_processes()) > before and time.time() < deadline:
        time.sleep(0.5)
    print(f'\nDP=2: {running - before} processes while running, {len(_replica_processes()) - before} after release')
    assert running - before >= 2 and len(_replica_processes()) == before
    assert outputs[2] == outputs[1]
