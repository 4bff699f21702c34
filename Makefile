# Every target sets itself up first: `make demo` and `make test` work on a fresh machine
# that has only Python 3.11, gcc, make and git.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out

.PHONY: setup demo test test-slow bench lint doctor addon clean

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) on PATH"; exit 1; }
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	@# Headless Blender rendering (Workbench/EEVEE) aborts without Debian's libegl1; the preview
	@# shader's parity tests and bench run on Mesa's software OpenGL through EGL (moderngl).
	@if [ "$$(id -u)" = 0 ] && command -v dpkg >/dev/null && ! dpkg -s libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri) || echo "warning: could not install libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri"; fi
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	@# mediapipe's declared deps (jax, opencv-contrib-python, sounddevice) are not needed and
	@# opencv-contrib would clash with opencv-python-headless: install it without them.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps mediapipe==0.10.14
	@# dlib's CC0 face-recognition ResNet and 5-point models (a 100 MB sdist of model files only).
	$(BIN)/pip install -q --disable-pip-version-check --no-deps face-recognition-models==0.3.0
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/headfuse demo --out $(OUT)

test: setup
	$(BIN)/python -m pytest -m "not slow"

test-slow: setup
	$(BIN)/python -m pytest -m slow

bench: setup
	$(BIN)/headfuse bench --json $(OUT)/bench.json

addon: setup
	$(BIN)/python scripts/build_addon.py --out $(OUT)/headfuse-addon.zip

lint: setup
	$(BIN)/ruff check .

doctor: setup
	$(BIN)/headfuse doctor

clean:
	rm -rf $(OUT) .pytest_cache
