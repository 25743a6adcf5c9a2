"""`make gpu-pins`: resolve this package with its `gpu` extra (pip install --dry-run, nothing installed) and print the
versions a GPU node would get; exit 1 when the pins do not resolve together."""
import json, subprocess, sys, tempfile
from pathlib import Path

KEY = ('vllm', 'deepspeed', 'torch', 'transformers', 'tokenizers', 'trl', 'peft', 'accelerate', 'datasets')

with tempfile.TemporaryDirectory() as tmp:
    report = Path(tmp) / 'report.json'
    done = subprocess.run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--ignore-installed', '--quiet',
                           '--report', str(report), '.[gpu]'], capture_output=True, text=True)
    if done.returncode != 0:
        print(f'FAILED: the gpu extra does not resolve:\n{done.stderr[-3000:]}')
        sys.exit(1)
    got = {i['metadata']['name'].lower(): i['metadata']['version'] for i in json.loads(report.read_text())['install']}
print('gpu extra resolves: ' + ', '.join(f'{k} {got[k]}' for k in KEY if k in got) + f' ({len(got)} packages)')
