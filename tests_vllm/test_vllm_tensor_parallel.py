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
