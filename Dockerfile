# The image compose.yaml builds for the mlflow, workspace and nightly services (untested here: no container runtime).
FROM python:3.11-slim
WORKDIR /srv/leadscore
COPY pyproject.toml README.md ./
COPY features features
COPY models models
COPY pipeline pipeline
RUN pip install --no-cache-dir . && useradd --system leadscore
USER leadscore
