# Two commands for a fresh machine (see README.md):
#   make demo   set up .venv, train the default model (fused image + hand-pose CapsNet) on ../shared data,
#               export it, classify a few images
#   make test   set up .venv, lint (ruff check), run the test suite (what CI runs)
VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
SHARED      ?= ../shared
DATA        ?= $(SHARED)/datasets/sign-language-digits
HAND_MODEL  ?= $(SHARED)/models/hand_landmarker.task
# The CPU build of torch. On a machine whose pip would pick a CUDA build, add
# TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
RUN         ?= runs/demo
RECIPE      ?= train/recipes/fused-capsnet.yaml

.PHONY: setup demo test test-all clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[test]"
	@# mediapipe brings opencv-contrib-python, albumentations opencv-python-headless: both write the
	@# same cv2 package. Keep exactly one, the full build with GUI support (cv2.imshow for `live`).
	@CV=$$($(PY) -m pip show opencv-contrib-python | sed -n 's/^Version: //p'); \
	 $(PY) -m pip uninstall -q -y opencv-python-headless opencv-python opencv-contrib-python && \
	 $(PY) -m pip install -q --no-deps "opencv-contrib-python==$$CV"
	$(PY) -c "import cv2, mediapipe, albumentations, onnxruntime, torch; print('cv2', cv2.__version__, '| torch', torch.__version__)"
	touch $@

demo: setup
	SIGNCAPS_HAND_MODEL=$(HAND_MODEL) $(VENV)/bin/signcaps train --recipe $(RECIPE) --data $(DATA) --run-dir $(RUN) $(if $(wildcard $(RUN)/last.pt),--resume)
	SIGNCAPS_HAND_MODEL=$(HAND_MODEL) $(VENV)/bin/signcaps export $(RUN)/best.pt -o $(RUN)/model.onnx
	SIGNCAPS_HAND_MODEL=$(HAND_MODEL) $(VENV)/bin/signcaps predict --model $(RUN)/model.onnx $(DATA)/3/IMG_1121.JPG $(DATA)/7/IMG_1125.JPG

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) runs data/cache .pytest_cache
