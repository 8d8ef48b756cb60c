# Flowdeck's image for deploy/kubernetes (web, worker, beat, watcher, migrate).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FLOWDECK_DATA_DIR=/data

WORKDIR /app
COPY . .
# The static files are baked into the image too; the migrate Job collects them
# again into the shared volume that is mounted over /data.
RUN pip install . \
    && groupadd --gid 10001 flowdeck \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin flowdeck \
    && mkdir -p /data \
    && FLOWDECK_SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && chown -R 10001:10001 /data

USER 10001:10001
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "webapp.asgi:application"]
