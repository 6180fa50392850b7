# One image for both processes; docker-compose.yml picks the command from the Procfile's entries.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY bot ./bot
COPY workers ./workers
RUN pip install --no-cache-dir --no-deps . && useradd --create-home --uid 10001 trailaudit
COPY Procfile ./
USER trailaudit
EXPOSE 3000
CMD ["sh", "-c", "python -m bot"]
