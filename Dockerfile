# One image for every role: Daphne, Celery worker, Celery beat, migrations (docker-compose.yml).
FROM python:3.11-slim AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Python's objects on jemalloc, which gives freed memory back (infra.memory, docs/scaling.md).
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/lib/*-linux-gnu/libjemalloc.so.2 /usr/local/lib/libjemalloc.so.2
ENV PYTHONMALLOC=malloc LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 MALLOC_CONF=background_thread:true
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && useradd --system --uid 1000 chat && chown -R chat /app
USER chat
EXPOSE 8000
CMD ["python", "-m", "chatplatform.server", "-b", "0.0.0.0", "-p", "8000", \
     "chatplatform.asgi:application"]

# nginx with the collected static files and the WebSocket proxy configuration.
FROM nginx:1.27-alpine AS nginx
COPY --from=app /app/staticfiles /usr/share/nginx/static
COPY deploy/nginx.conf /etc/nginx/nginx.conf
