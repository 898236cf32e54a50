# Set-up and entry points. Each target creates or reuses .venv and installs what it needs, at the exact
# versions of the lock (requirements/cpu.lock, or requirements/cuda.lock where nvidia-smi works: the unsloth
# extra and a CUDA torch); `make lock` rewrites both from pyproject.toml's ranges. Without CUDA the CPU torch
# wheel (the lock's torch==2.13.0) is installed first, so no multi-GB CUDA build is pulled.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?=
STAMP := $(VENV)/.forge-installed
LOCK := requirements/$(shell nvidia-smi > /dev/null 2>&1 && echo cuda || echo cpu).lock
PIP := $(PY) -m pip install -q --disable-pip-version-check -c $(LOCK)
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
# the wheel is ctypes over its own libllama (py3-none-<platform>): one per version, flags and machine type
LLAMA_WHEELS := $(HOME)/.cache/forge/llama-cpp-wheels/$(LLAMA_CPP_VERSION)-$(shell uname -m)-$(shell echo '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)

.PHONY: setup lock system-tools llama-server test test-fast demo demo-tiny demo-real demo-home demo-tools lint bench docs clean-venv

# The compute.remote tests start a real OpenSSH server on loopback and move files with rsync: Debian's
# openssh-server and rsync, installed when missing (as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-tools:
	@if [ ! -x /usr/sbin/sshd ] || ! command -v rsync > /dev/null; then \
		echo "installing openssh-server and rsync (for the compute.remote tests)"; \
		$(SUDO) apt-get update -q > /dev/null && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q openssh-server rsync > /dev/null; \
	fi

$(STAMP): pyproject.toml Makefile $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) pip
	# llama-cpp-python (dev, for the GGUF tests and shipping) compiles llama.cpp from source, on every core.
	# A -march=native build uses AMX for q8_0 on Sapphire Rapids, which segfaults in this sandbox: build
	# portable. Only what forge loads: libllama and ggml (llama.cpp's tools, server and examples are off
	# in a subproject build; LLAVA_BUILD=OFF drops the multimodal library). The wheel is kept in
	# $(LLAMA_WHEELS), keyed by version and flags, so another venv on this machine reuses it.
	if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl > /dev/null 2>&1; then \
		CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel -q \
			--disable-pip-version-check --no-deps --no-cache-dir llama-cpp-python==$(LLAMA_CPP_VERSION) \
			-w $(LLAMA_WHEELS); \
	fi; \
	$(PIP) $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	if nvidia-smi >/dev/null 2>&1; then \
		$(PIP) -e '.[dev,unsloth,ray]'; \
	else \
		$(PIP) torch && $(PIP) -e '.[dev,ray]'; \
	fi
	# the lock matches pyproject.toml, and what is installed has every dependency it declares
	$(PY) tests/lockfile.py check
	$(PY) -m pip check
	touch $(STAMP)

setup: $(STAMP) system-tools

# Rewrite the locks from pyproject.toml's ranges (today's newest releases within them): after editing a
# dependency in pyproject.toml, or to take newer releases; then `make setup` and `make test` before committing.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check 'uv>=0.13' packaging
	$(PY) tests/lockfile.py write $(VENV)/bin/uv

# llama.cpp's llama-server, built once per machine from the llama-cpp-python sdist (minutes; cached under
# ~/.cache/forge/llama-server/) for the tests that run forge against a real local Anthropic-compatible server.
llama-server: $(STAMP)
	$(PY) tests/llama_server.py

test: $(STAMP) system-tools llama-server
	$(PY) -m pytest -q

# For your own loop: everything but the tests marked slow (real training runs, kill -9, the demo).
test-fast: $(STAMP) system-tools
	$(PY) -m pytest -q -m "not slow"

# The embedded default: the math task on a real pretrained model, SmolLM2-135M-Instruct (GGUF from PyPI),
# LoRA, zero-shot baseline first, end to end, offline on CPU (see examples/run-demo-real).
demo: $(STAMP)
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo-real $(DEMO_DIR)

# The same task on a tiny random-init model forge builds itself (the test fixture; see examples/run-demo).
demo-tiny: $(STAMP)
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo $(DEMO_DIR)

# `make demo` under its earlier name.
demo-real: $(STAMP)
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo-real $(DEMO_DIR)

# A task whose answers carry arguments, on SmolLM2-135M-Instruct: call scorer, output schema, constrained
# decoding (see examples/run-demo-home).
demo-home: $(STAMP)
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo-home $(DEMO_DIR)

# Function calling: multi-turn OpenAI-format tool conversations on SmolLM2-135M-Instruct, decoded under each
# turn's tools, exported to GGUF and served by llama-server as tool_calls (see examples/run-demo-tools).
demo-tools: $(STAMP) llama-server
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo-tools $(DEMO_DIR)

# mypy reads the package as it is installed (agent/ as forge.agent, tools/ as forge.tools: setuptools
# package-dir, which mypy cannot follow), through a tree of symlinks, so the seams are checked across folders.
MYPY_VIEW := $(CURDIR)/.mypy_view
lint: $(STAMP)
	$(PY) tests/lockfile.py check
	$(VENV)/bin/ruff check forge agent tools prompts tests bench
	$(VENV)/bin/ruff format --check forge agent tools prompts tests bench
	rm -rf $(MYPY_VIEW) && mkdir -p $(MYPY_VIEW)/forge && ln -s $(CURDIR)/forge/* $(MYPY_VIEW)/forge/ && \
		ln -s $(CURDIR)/agent $(MYPY_VIEW)/forge/agent && ln -s $(CURDIR)/tools $(MYPY_VIEW)/forge/tools && \
		ln -s $(CURDIR)/prompts $(MYPY_VIEW)/forge/prompts
	cd $(MYPY_VIEW) && $(abspath $(VENV))/bin/mypy --config-file $(CURDIR)/pyproject.toml -p forge
	site=$$(mktemp -d) && $(VENV)/bin/mkdocs build --strict --quiet --site-dir $$site; rc=$$?; rm -rf $$site; exit $$rc

bench: $(STAMP)
	$(PY) bench/demo_wall.py && $(PY) bench/eval_speed.py && $(PY) bench/warm_start.py iterations && $(PY) bench/warm_start.py accuracy --demo math && \
	$(PY) bench/grpo.py --demo math && $(PY) bench/eval_batching.py && $(PY) bench/constrained_eval.py && $(PY) bench/train_throughput.py && $(PY) bench/train_real.py && $(PY) bench/train_processes.py && $(PY) bench/remote_overhead.py && $(PY) bench/sweep.py && $(PY) bench/planner_context.py --baseline c11be1f

clean-venv:
	rm -rf $(VENV)

# Regenerate docs/cli.md and the forge.yaml reference block in docs/config.md from the code.
docs: $(STAMP)
	$(PY) -m forge.cli.reference