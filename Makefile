# Restora: `make run` opens the editor, `make test` runs the whole suite headless.
# Both create .venv if missing and install the project into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel by default; e.g. `make run TORCH_SPEC='torch==2.13.0'` or a CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: run test bench fonts train-restore train-damage train-sr clean-venv

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

# The benchmarks of what ships (tables printed, JSON in benchmarks/results/, numbers into the model cards).
# benchmarks/damage.py compares with OpenCV's inpainting (the bench extra); the synthetic pages want the fonts.
bench: $(STAMP) fonts
	$(PY) -m pip install --quiet -e ".[bench]" "$(TORCH_SPEC)"
	$(PY) main.py bench

# Debian font packages give the synthetic page generator its variety of type faces.
FONT_PACKAGES := fonts-dejavu fonts-liberation fonts-freefont-ttf fonts-urw-base35 \
	fonts-crosextra-carlito fonts-crosextra-caladea fonts-comic-neue fonts-texgyre
fonts:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -qq $(FONT_PACKAGES) >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq $(FONT_PACKAGES) >/dev/null); \
	else echo "install these font packages for varied synthetic pages: $(FONT_PACKAGES)"; fi

# Resumable: re-running continues from runs/*/last.pt. Phase 2 fine-tunes on whole real pages,
# phase 3 on pages also shown enlarged up to 3 times (a page scanned at up to 400 dpi; the
# Kaggle pages are about 130 dpi judged by their text).
DOCS := ../shared/datasets/docs/dirty
train-restore: $(STAMP) fonts
	$(PY) -m engine.training.restore --data $(DOCS) --steps 8000 --export runs/restore/export
	$(PY) -m engine.training.restore --data $(DOCS) --run runs/restore-ft --init runs/restore/best.pt \
		--real-frac 1.0 --patch 256 --batch 8 --lr 3e-4 --steps 2000 --export runs/restore-ft/export
	$(PY) -m engine.training.restore --data $(DOCS) --run runs/restore-scale --init runs/restore-ft/best.pt \
		--real-frac 1.0 --patch 256 --batch 8 --lr 3e-4 --steps 2000 --scale-max 3

# A short CPU run; the shipped weights were trained on a GPU with scripts/train_damage_gpu.sh
# (pictures packed by scripts/pack_pictures.py), the detector then fine-tuned: see their cards.
train-damage: $(STAMP) fonts
	$(PY) -m engine.training.damage --task mask
	$(PY) -m engine.training.damage --task repair

# x4 first; x2 starts from the x4 body; each sharp model fine-tunes its faithful one with a
# discriminator. Exports into resources/models. Resumable like the others.
SR := -m engine.training.sr
train-sr: $(STAMP)
	$(PY) $(SR) --scale 4 --steps 16000
	$(PY) $(SR) --scale 2 --steps 3000 --init runs/sr-faithful-x4/best.pt
	$(PY) $(SR) --scale 4 --variant sharp --init runs/sr-faithful-x4/best.pt --steps 600 --batch 8 --lr 1e-4
	$(PY) $(SR) --scale 2 --variant sharp --init runs/sr-faithful-x2/best.pt --steps 600 --batch 8 --lr 1e-4

clean-venv:
	rm -rf $(VENV)

# Editor screenshots for the README, from the real app under Xvfb (started if DISPLAY is unset).
.PHONY: screenshots bench-gui
screenshots: $(STAMP)
	$(PY) scripts/screenshots.py $(IMAGES)

# Time to window, the longest event-loop stall during a full-size upscale, memory over a session.
bench-gui: $(STAMP)
	$(PY) benchmarks/gui_responsiveness.py
	$(PY) benchmarks/gui_memory.py
