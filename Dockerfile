# One image for every process; docker-compose.yml and deploy/aws/ecs-fargate.yaml pick the command from the
# Procfile's entries. Built from the lock (exact versions), run as a non-root user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock
COPY bot ./bot
COPY workers ./workers
RUN pip install --no-cache-dir --no-deps . && useradd --create-home --uid 10001 trailaudit
COPY Procfile ./
USER 10001
EXPOSE 3000
# The web's /healthz (the default command); compose turns the check off for the processes without a port.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"3000\")}/healthz', timeout=3)"]
CMD ["sh", "-c", "python -m bot"]
