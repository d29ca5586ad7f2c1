# Image for the GPU stages (train, evaluate with vLLM) and Prefect flow runs on a cluster: CUDA torch,
# vLLM and the whole pipeline from one pip command (constraints-gpu.txt, checked to resolve by
# tests/infra/test_gpu_constraints.py).
#   docker build -f infra/docker/gpu.Dockerfile -t registry.example.com/reflective-math:gpu .
# The torch and vLLM wheels bring their own CUDA libraries; the host needs an NVIDIA driver that
# supports CUDA 13 (torch 2.14.0's build) and the NVIDIA container runtime.
FROM ubuntu:22.04
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 HF_HUB_DISABLE_TELEMETRY=1 \
    MLFLOW_DISABLE_TELEMETRY=true PREFECT_SERVER_ANALYTICS_ENABLED=false
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common git \
 && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN python3.11 -m venv /venv
ENV PATH=/venv/bin:$PATH
COPY pyproject.toml constraints.txt constraints-gpu.txt README.md ./
COPY components ./components
COPY flows ./flows
COPY infra ./infra
COPY params.yaml ./
RUN pip install --upgrade pip \
 && pip install -c constraints-gpu.txt -e '.[gpu]'
# No ENTRYPOINT: a Prefect Kubernetes worker passes the flow-run command as the container command.
CMD ["reflect", "--help"]
