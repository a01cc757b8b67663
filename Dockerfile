# One image for every workbench service: workers, beat, Flower and JupyterLab.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WORKBENCH_HOME=/var/lib/workbench

RUN useradd --create-home --uid 1000 workbench \
    && mkdir -p /var/lib/workbench \
    && chown workbench:workbench /var/lib/workbench

WORKDIR /opt/workbench
COPY pyproject.toml README.md ./
COPY src ./src
# postgres: the catalog on PostgreSQL; flower: the Celery dashboard; ipykernel: notebooks.
RUN pip install ".[postgres]" "flower>=2" "ipykernel>=6"

USER workbench
WORKDIR /home/workbench
EXPOSE 8888 5555 9808

# The default is a worker on every queue; docker-compose.yml gives each service its command.
CMD ["workbench", "worker"]
