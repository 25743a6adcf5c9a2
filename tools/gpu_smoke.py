"""`make gpu-smoke`: what only a GPU shows, in under 5 minutes on one GPU. Installs nothing: a check whose package this
machine lacks prints `skipped: <package> missing`. Each check prints one line, `ok:`, `FAILED:` or `skipped:`, with
what it measured; the exit code is 1 when any check failed.

1. ZeRO-3 saves a whole model: a 1-process DeepSpeed ZeRO-3 SFT run through `launch_sft` (the paper's launch path);
   its `final/` holds every tensor with its full shape, and the model reloads and runs.
2. An engine's memory returns when it is released (`release_engines`), as a stage does before an SFT launch.
3. Never two engines alive: starting a second model's engine shuts the first down.
4. Whole pools vs blocks: the same prompts submitted at once (`stream_rows`) and in blocks of 32 (`generate_rows`),
   tokens per second of each and their ratio.
5. The SFT output evaluated: the model check 1 trained, served by vLLM, answers.

Models: the micro tiny world (built here in seconds), so nothing is downloaded."""
import importlib.util, sys, tempfile, time, traceback
from dataclasses import replace
from pathlib import Path

RESULTS = []


def report(status: str, name: str, detail: str):
    RESULTS.append(status)
    print(f'{status}: {name}: {detail}', flush=True)


CHECKS = []  # (name, packages it needs, function), in the order they run


def check(name: str, needs: tuple):
    "Register the decorated function as a check (`run_checks` runs them in order)."
    def register(fn):
        CHECKS.append((name, needs, fn))
        return fn
    return register


def run_checks():
    "Each registered check, unless a package it needs is missing; a failure is reported, not raised."
    for name, needs, fn in CHECKS:
        missing = [p for p in needs if importlib.util.find_spec(p) is None]
        if missing:
            report('skipped', name, f'{missing[0]} missing')
            continue
        try:
            report('ok', name, fn())
        except Exception as e:  # a smoke test reports every check, whatever one of them raised
            report('FAILED', name, f'{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}')


def gib(n_bytes) -> str:
    return f'{n_bytes / 2**30:.2f} GiB'


def main():
    import torch

    if not torch.cuda.is_available():
        report('skipped', 'every check', 'no CUDA device (torch.cuda.is_available() is False)')
        return 0
    from ded_nb.recipe import load_recipe
    from ded_nb.world import build_tiny_world, micro_zoo, render

    tmp = Path(tempfile.mkdtemp(prefix='ded-gpu-smoke-'))
    world = build_tiny_world(micro_zoo(), tmp / 'world', progress=False)
    corpus = [(p.question, render(p, 'verbose')) for p in world.problems['chain']['train'][:64]]
    questions = [p.question for p in world.problems['chain']['test'][:256]]
    trained = {}

    @check('ZeRO-3 saves a whole model', ('deepspeed', 'accelerate'))
    def zero3():
        from safetensors import safe_open
        from ded_nb.models import load_model
        from ded_nb.sft import launch_sft

        profile = replace(load_recipe('paper').sft, processes=1, global_batch=8, per_device_batch=8, max_length=512,
                          save_steps=100, offload_optimizer=False, gradient_checkpointing=False)
        out = tmp / 'zero3'
        launch_sft('tiny:student', corpus, out, profile, world, max_steps=2, progress=False)
        base = load_model('tiny:student', world)[0].state_dict()
        with safe_open(str(out / 'final' / 'model.safetensors'), 'pt') as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        empty = [k for k, s in shapes.items() if 0 in s or not s]
        wrong = [k for k, s in shapes.items() if k in base and tuple(base[k].shape) != s]
        if empty or wrong or not shapes:
            raise AssertionError(f'empty tensors {empty[:3]}, wrong shapes {wrong[:3]} of {len(shapes)}')
        net, tok = load_model(str(out / 'final'))
        ids = tok(questions[0], return_tensors='pt').input_ids
        assert torch.isfinite(net(ids).logits).all()
        trained['final'] = str(out / 'final')
        return f'{len(shapes)} tensors, none empty, every shape the base model\'s; reloaded, finite logits'

    @check('an engine\'s memory returns on release', ('vllm',))
    def release():
        from ded_nb.generate import SamplingParams, generate, make_backend, release_engines

        free = lambda: torch.cuda.mem_get_info()[0]
        before = free()
        backend = make_backend('vllm', 'tiny:teacher-plain', world, gpu_memory_utilization=0.3, max_model_len=1024)
        generate(backend, questions[:8], SamplingParams(max_new_tokens=32), progress=False)
        during = free()
        release_engines()
        time.sleep(2)
        after = free()
        if before - after > 2**30:
            raise AssertionError(f'free {gib(before)} before, {gib(during)} running, {gib(after)} after release')
        return f'free {gib(before)} before, {gib(during)} running, {gib(after)} after release'

    @check('never two engines alive', ('vllm',))
    def one_engine():
        from ded_nb.generate import SamplingParams, generate, make_backend, release_engines

        free = lambda: torch.cuda.mem_get_info()[0]
        make = lambda name: make_backend('vllm', name, world, gpu_memory_utilization=0.3, max_model_len=1024)
        first, second = make('tiny:teacher-plain'), make('tiny:student')
        generate(first, questions[:8], SamplingParams(max_new_tokens=16), progress=False)
        one = free()
        generate(second, questions[:8], SamplingParams(max_new_tokens=16), progress=False)
        two = free()
        release_engines()
        if first.llm is not None or one - two > 2**30:
            raise AssertionError(f'first engine alive: {first.llm is not None}; free {gib(one)} then {gib(two)}')
        return f'the first engine was shut down when the second started; free {gib(one)} with one, {gib(two)} after'

    @check('whole pools vs blocks of 32', ('vllm',))
    def throughput():
        from ded_nb.generate import SamplingParams, as_messages, make_backend, release_engines

        backend = make_backend('vllm', 'tiny:teacher-plain', world, gpu_memory_utilization=0.3, max_model_len=1024)
        params = SamplingParams(max_new_tokens=256, temperature=1.0)
        prompts = [as_messages(q) for q in questions]
        seeds = list(range(len(prompts)))
        backend.generate_rows(prompts[:8], params, seeds[:8])  # the engine started and warm
        start = time.time()
        whole = dict(backend.stream_rows(prompts, params, seeds))
        t_whole = time.time() - start
        start = time.time()
        blocks = [c for b in range(0, len(prompts), 32) for c in backend.generate_rows(prompts[b:b + 32], params, seeds[b:b + 32])]
        t_blocks = time.time() - start
        release_engines()
        tok_whole, tok_blocks = sum(c.n_tokens for c in whole.values()), sum(c.n_tokens for c in blocks)
        same = sum(whole[i].token_ids == c.token_ids for i, c in enumerate(blocks))
        return (f'{tok_whole / t_whole:.0f} tokens/s whole, {tok_blocks / t_blocks:.0f} in blocks: ratio '
                f'{(tok_whole / t_whole) / (tok_blocks / t_blocks):.2f}; {same}/{len(prompts)} samples identical')

    @check('the SFT output evaluated', ('vllm', 'deepspeed'))
    def evaluated():
        from ded_nb.generate import SamplingParams, generate, make_backend, release_engines

        if 'final' not in trained:
            raise AssertionError('check 1 trained no model')
        backend = make_backend('vllm', trained['final'], gpu_memory_utilization=0.3, max_model_len=1024)
        outs = generate(backend, questions[:16], SamplingParams(max_new_tokens=64), progress=False)
        release_engines()
        n = sum(bool(c[0].token_ids) for c in outs)
        if n == 0:
            raise AssertionError('no tokens generated')
        return f'{n}/16 prompts answered by the ZeRO-3-trained model under vLLM'

    run_checks()
    print(f"gpu-smoke: {sum(r == 'ok' for r in RESULTS)} ok, {sum(r == 'FAILED' for r in RESULTS)} failed, "
          f"{sum(r == 'skipped' for r in RESULTS)} skipped")
    return 1 if 'FAILED' in RESULTS else 0


if __name__ == '__main__':
    sys.exit(main())
