# Restora: `make run` opens the editor, `make test` runs the whole suite headless.
# Both create .venv if missing and install the project into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel by default; e.g. `make run TORCH_SPEC='torch==2.13.0'` or a CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: run test bench fonts train-restore clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]" "$(TORCH_SPEC)"
	touch $(STAMP)

run: $(STAMP)
	$(PY) main.py $(IMAGE)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]" "$(TORCH_SPEC)"
	$(PY) benchmarks/doc_restore.py

# Debian font packages give the synthetic page generator its variety of type faces.
FONT_PACKAGES := fonts-dejavu fonts-liberation fonts-freefont-ttf fonts-urw-base35 \
	fonts-crosextra-carlito fonts-crosextra-caladea fonts-comic-neue fonts-texgyre
fonts:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -qq $(FONT_PACKAGES) >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq $(FONT_PACKAGES) >/dev/null); \
	else echo "install these font packages for varied synthetic pages: $(FONT_PACKAGES)"; fi

# Resumable: re-running continues from runs/restore/last.pt.
train-restore: $(STAMP) fonts
	$(PY) -m engine.training.restore --data ../shared/datasets/docs/dirty --steps 8000

clean-venv:
	rm -rf $(VENV)
