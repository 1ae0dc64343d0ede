# Two commands for a fresh machine (see README.md):
#   make demo   set up .venv; the shipped model on two photos and a short clip (live, into runs/demo/live.mp4);
#               then train the default model (fused image + hand-pose CapsNet) yourself, export it, classify
#               the same photos. Data: ../shared beside the clone, else fetched once into the user cache.
#   make test   set up .venv, lint (ruff check), run the test suite on every core (pytest-xdist) with the
#               install test among it (the wheel into a fresh venv without torch, predict + live, then
#               [train] and one epoch): what CI runs, then CI runs `make test-exhaustive` too
VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
SHARED      ?= ../shared
# With ../shared beside the clone: its datasets and hand model. Without it: the datasets that
# `signcaps data fetch` installs in the user cache, and the hand model downloaded on first use.
ifneq ($(wildcard $(SHARED)/datasets/sign-language-digits),)
DATA_DIR    ?= $(SHARED)/datasets
HAND_MODEL  ?= $(SHARED)/models/hand_landmarker.task
endif
SIGNCAPS    := $(if $(DATA_DIR),SIGNCAPS_DATA_DIR=$(DATA_DIR)) $(if $(HAND_MODEL),SIGNCAPS_HAND_MODEL=$(HAND_MODEL)) \
               $(VENV)/bin/signcaps
# The CPU build of torch. On a machine whose pip would pick a CUDA build, add
# TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
RUN         ?= runs/demo
RECIPE      ?= fused-capsnet
# pytest-xdist workers: one per core ("auto"); 0 runs the suite in this process
TEST_WORKERS ?= auto
PYTEST      := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal
export TORCH_SPEC TORCH_INDEX  # tests/test_install.py installs the same torch into its fresh venv

.PHONY: setup demo test test-exhaustive test-all letters-model clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[train,test]"
	@# mediapipe requires opencv-contrib-python, albumentations opencv-python-headless: both write the
	@# same cv2 package. `signcaps doctor --fix` keeps only the full build with the GUI (cv2.imshow for
	@# `live`) and installs an empty placeholder in the other's name, so `pip check` is clean.
	$(VENV)/bin/signcaps doctor --fix > /dev/null
	$(PY) -m pip check
	$(PY) -c "import cv2, mediapipe, albumentations, onnxruntime, torch; print('cv2', cv2.__version__, '| torch', torch.__version__)"
	touch $@

# The same steps by hand: README.md, "The two commands". The datasets are fetched only where they are not
# installed; the shipped model runs on two photos and on a 3 s clip of dataset hands (tests/videos.py) through
# `live` into $(RUN)/live.mp4; then the default recipe trains, exports and classifies the same two photos.
demo: setup
	$(SIGNCAPS) data fetch digits --if-missing
	$(SIGNCAPS) data fetch asl-letters --if-missing
	mkdir -p $(RUN)
	digits=$$($(if $(DATA_DIR),SIGNCAPS_DATA_DIR=$(DATA_DIR)) $(PY) -c "from signcaps.data.datasets import resolve_root; print(resolve_root('digits'))") && \
	  $(SIGNCAPS) predict $$digits/3/IMG_1121.JPG $$digits/7/IMG_1125.JPG && \
	  SIGNCAPS_SHARED=$$(dirname $$(dirname $$digits)) $(PY) tests/videos.py $(RUN)/signs.mp4 --frames 90 --hold 15 && \
	  $(SIGNCAPS) live --source $(RUN)/signs.mp4 --no-window --output $(RUN)/live.mp4 && \
	  $(SIGNCAPS) train --recipe $(RECIPE) --run-dir $(RUN) $(if $(wildcard $(RUN)/last.pt),--resume) && \
	  $(SIGNCAPS) export $(RUN)/best.pt -o $(RUN)/model.onnx && \
	  $(SIGNCAPS) predict --model $(RUN)/model.onnx $$digits/3/IMG_1121.JPG $$digits/7/IMG_1125.JPG

# The install test (PyPI downloads, fresh venvs: mostly waiting) runs beside the rest, on a worker of its own;
# the page in Chromium and the real window under Xvfb run alone afterwards (under load the page sees other
# frames of its fake camera, and Qt repaints the window late).
test: setup
	$(VENV)/bin/ruff check .
	$(PYTEST) -m "(not slow and not exhaustive and not browser and not screen) or install"
	$(PY) -m pytest -q -m "(browser or screen) and not slow and not exhaustive"

# Every option x every bad value, the signal matrices: CI runs them after `make test` (.ci/run).
test-exhaustive: setup
	$(PYTEST) -m "exhaustive and not slow"

test-all: setup
	$(PYTEST) -m "(slow or not slow or install or exhaustive) and not browser and not screen"
	$(PY) -m pytest -q -m "browser or screen"

# The shipped letters model (train/README.md, "Letters"): the joint handshape recipe, seed 1, exported
# and judged in both sign modes; copy runs/letters-model/model.onnx to signcaps/resources/letters_model.onnx
letters-model: setup
	SIGNCAPS_HAND_MODEL=$(HAND_MODEL) SIGNCAPS_DATA_DIR=$(DATA_DIR) $(VENV)/bin/signcaps train --recipe handshapes --seed 1 --run-dir runs/letters-model $(if $(wildcard runs/letters-model/last.pt),--resume)
	SIGNCAPS_HAND_MODEL=$(HAND_MODEL) SIGNCAPS_DATA_DIR=$(DATA_DIR) $(VENV)/bin/signcaps export runs/letters-model/best.pt -o runs/letters-model/model.onnx
	SIGNCAPS_HAND_MODEL=$(HAND_MODEL) SIGNCAPS_DATA_DIR=$(DATA_DIR) $(VENV)/bin/signcaps vocabulary runs/letters-model/model.onnx

clean:
	rm -rf $(VENV) runs data/cache .pytest_cache
