"""Generation: the completion cache survives a real SIGKILL; the openai backend against a real `transformers serve` and a
scripted flaky server on 127.0.0.1; greedy hf and openai outputs are identical."""
import json, os, signal, socket, sqlite3, subprocess, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from ded_nb.core import read_jsonl, write_jsonl
from ded_nb.generate import OpenAIBackend, SamplingParams, generate, CompletionCache, make_backend
from ded_nb.world import build_tiny_world, micro_zoo

@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    "A DED_CACHE of this module's own, holding the micro world (built once)."
    d = tmp_path_factory.mktemp('ded-cache')
    os.environ['DED_CACHE'] = str(d)
    yield d
    os.environ.pop('DED_CACHE', None)

@pytest.fixture(scope='module')
def world(cache_dir):
    return build_tiny_world(micro_zoo(), progress=False)

def cache_rows(path):
    if not Path(path).exists(): return 0
    with sqlite3.connect(path) as db:
        try: return db.execute('SELECT COUNT(*) FROM completions').fetchone()[0]
        except sqlite3.OperationalError: return 0

def test_sigkill_mid_run_regenerates_nothing_and_duplicates_nothing(world, cache_dir, ded_cli, tmp_path):
    problems = tmp_path / 'problems.jsonl'
    write_jsonl(problems, [{'id': f'q{i}', 'question': f'Start with {i + 2}. Add {i % 7 + 3}. What number do you get?'} for i in range(60)])
    cache = tmp_path / 'gen.sqlite'
    cmd = [ded_cli, 'generate', '--model', 'tiny:teacher-noisy', '--world', 'micro', '--problems', str(problems), '--out', str(tmp_path / 'r.jsonl'),
           '--n', '2', '--temperature', '0.9', '--max-new-tokens', '48', '--batch-size', '4', '--cache', str(cache), '--no-progress']
    env = {**os.environ, 'DED_CACHE': str(cache_dir)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while cache_rows(cache) < 24 and time.time() < deadline and proc.poll() is None: time.sleep(0.05)
    assert proc.poll() is None, 'the run finished before it could be killed: make it longer'
    os.kill(proc.pid, signal.SIGKILL); proc.wait()
    done_before = cache_rows(cache)
    assert 24 <= done_before < 120
    assert not (tmp_path / 'r.jsonl').exists()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary['rows'] == 120 and summary['from_cache'] == done_before and summary['generated'] == 120 - done_before
    assert cache_rows(cache) == 120
    rows = list(read_jsonl(tmp_path / 'r.jsonl'))
    assert len({(r['problem_id'], r['sample_idx']) for r in rows}) == 120
    third = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(third.stdout.strip().splitlines()[-1])['generated'] == 0

class FlakyServer(BaseHTTPRequestHandler):
    "A scripted OpenAI-style endpoint: 429 (with Retry-After), then 503, then an answer with separate reasoning."
    calls = []
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        FlakyServer.calls.append(body)
        n = len(FlakyServer.calls)
        if n == 1: self.send_response(429); self.send_header('Retry-After', '0.2'); self.end_headers(); return
        if n == 2: self.send_response(503); self.end_headers(); return
        reply = {'choices': [{'message': {'content': 'The answer is \\boxed{7}.', 'reasoning_content': '3+4=7'}, 'finish_reason': 'stop'}],
                 'usage': {'completion_tokens': 11}}
        data = json.dumps(reply).encode()
        self.send_response(200); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def log_message(self, *a): pass

def test_openai_backend_retries_and_puts_reasoning_back():
    server = ThreadingHTTPServer(('127.0.0.1', 0), FlakyServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = OpenAIBackend(f'http://127.0.0.1:{server.server_port}/v1', 'm', concurrency=1, max_retries=3)
        start = time.time()
        c = generate(backend, ['Start with 3. Add 4.'], SamplingParams(max_new_tokens=32, seed=5), progress=False)[0][0]
        assert time.time() - start >= 0.2  # waited as Retry-After asked
        assert c.text == '<think>3+4=7</think>The answer is \\boxed{7}.' and c.n_tokens == 11 and c.finish_reason == 'stop'
        assert len(FlakyServer.calls) == 3
        sent = FlakyServer.calls[-1]
        assert sent['max_tokens'] == 32 and sent['temperature'] == 0.0 and sent['top_p'] == 1.0 and 'seed' in sent
    finally: server.shutdown()

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def trained_micro(world, tmp_path_factory):
    "A micro model trained long enough (200 steps) to write structured `<think>` traces, saved with its tokenizer."
    from ded_nb.world import new_model, train_lm, render
    tok = world.tokenizer()
    model = new_model('micro', tok, seed=7)
    pairs = [(p.question, render(p, 'verbose')) for p in world.problems['chain']['train']]
    train_lm(model, tok, pairs, steps=200, batch_size=16, lr=5e-3, progress=False)
    out = tmp_path_factory.mktemp('micro-trained')
    model.save_pretrained(out); tok.save_pretrained(out)
    return str(out)

def split_think(text):
    "(reasoning, answer), each stripped: what a server that separates reasoning returns."
    if '</think>' not in text:  # unfinished reasoning, or none
        return (text.replace('<think>', '', 1).strip(), None) if '<think>' in text else ('', text.strip())
    reasoning, answer = text.split('</think>', 1)
    return (reasoning.replace('<think>', '', 1).strip(), answer.strip())

def test_greedy_hf_equals_openai_through_transformers_serve(trained_micro):
    """The same tiny model in fp32, greedy: transformers `generate` here, and `transformers serve` on 127.0.0.1 through the
    openai backend. The server returns the reasoning in `reasoning_content` with surrounding whitespace stripped, so
    identical means: the same reasoning and the same answer, each compared exactly after stripping."""
    pytest.importorskip('fastapi'); pytest.importorskip('uvicorn')
    port = free_port()
    serve = Path(sys.executable).parent / 'transformers'
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1'}
    proc = subprocess.Popen([str(serve), 'serve', trained_micro, '--host', '127.0.0.1', '--port', str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import httpx
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                if httpx.get(f'http://127.0.0.1:{port}/health', timeout=1).status_code == 200: break
            except httpx.HTTPError: time.sleep(0.5)
        assert proc.poll() is None and time.time() < deadline, 'transformers serve did not start'
        from ded_nb.world import build_tiny_world, micro_zoo
        questions = [p.question for p in build_tiny_world(micro_zoo(), progress=False).problems['chain']['test'][:10]]
        params = SamplingParams(max_new_tokens=48)
        hf = generate(make_backend('hf', trained_micro), questions, params, progress=False)
        api = generate(OpenAIBackend(f'http://127.0.0.1:{port}/v1', trained_micro, tokenizer=trained_micro, concurrency=2, send_seed=False),
                       questions, params, progress=False)
        assert any('</think>' in h[0].text for h in hf), 'the model should write think traces'
        pairs = [(split_think(h[0].text), split_think(a[0].text)) for h, a in zip(hf, api)]
        differing = [(q, h, a) for q, (h, a) in zip(questions, pairs) if h != a]
        assert not differing, differing
    finally:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait()
