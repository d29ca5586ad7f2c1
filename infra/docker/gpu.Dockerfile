# Image for the GPU stages (train, evaluate with vLLM) on a cluster: CUDA torch + the `gpu` extra.
#   docker build -f infra/docker/gpu.Dockerfile -t registry.example.com/reflective-math:gpu .
# vLLM pins transformers < 5.18, hence the override (see pyproject.toml, extra `gpu`).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 HF_HUB_DISABLE_TELEMETRY=1 \
    MLFLOW_DISABLE_TELEMETRY=true PREFECT_SERVER_ANALYTICS_ENABLED=false
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common git \
 && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN python3.11 -m venv /venv
ENV PATH=/venv/bin:$PATH
COPY pyproject.toml constraints.txt README.md ./
COPY components ./components
COPY flows ./flows
COPY infra ./infra
COPY params.yaml ./
RUN pip install --upgrade pip \
 && pip install torch==2.13.0 \
 && pip install -e '.[gpu]' 'transformers==5.17.*'
# No ENTRYPOINT: a Prefect Kubernetes worker passes the flow-run command as the container command.
CMD ["reflect", "--help"]
