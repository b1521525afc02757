# Shopflow application image: one image for web (gunicorn), workers, beat, flower and the
# one-shot migrate job; docker-compose.yml and kubernetes/ pick the command per service.
# It carries the runtime only: the build context leaves tests, bench, docs and the
# deployment files out (.dockerignore), and the frontend's sources stay in their stage.
#
# The base image, pinned by tag (Debian 12 and Python's patch release): a rebuild takes
# the same base until this line changes. No digest is pinned here: add the one your
# registry serves (python:3.11.15-slim-bookworm@sha256:...) to hold it to the byte.

# The React notifications tab (frontend/), built with Node.js from PyPI as `make` builds it;
# only its dist/ goes into the image.
FROM python:3.11.15-slim-bookworm AS frontend
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build/frontend
COPY frontend/requirements.txt frontend/package.json frontend/package-lock.json ./
RUN pip install -r requirements.txt
RUN npm ci --no-audit --no-fund
COPY openapi.yaml /build/
COPY frontend/ ./
RUN npm run build

# The runtime: Python's packages and the user every process runs as.
FROM python:3.11.15-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_DEBUG=0

WORKDIR /app

# An unprivileged user with a fixed id (Kubernetes' runAsUser names it) and a home
# (gunicorn keeps its control socket in ~/.gunicorn).
RUN groupadd --system --gid 10001 shopflow \
    && useradd --system --uid 10001 --gid shopflow --create-home --home-dir /home/shopflow \
       shopflow

# Dependencies first, so a code change does not reinstall them. uv (pinned as the Makefile
# pins it) installs them as `make` does, several times faster than pip, with the system's
# certificates (a proxy's CA among them), and leaves the image afterwards.
COPY requirements.txt .
RUN pip install uv==0.13.9 \
    && uv pip install --system --native-tls --compile-bytecode --no-cache -r requirements.txt \
    && pip uninstall --yes uv

# The code as the image carries it: the build context, the tab's build in place of its
# sources, the static files collected. Settings refuse to start without a secret key, a
# database, a mail backend, the site's address and a broker when DEBUG is off: these throwaway
# values are set for this one RUN line only (collectstatic uses none of them).
FROM runtime AS code
COPY . .
COPY --from=frontend /build/frontend/dist /build/dist
RUN rm -rf frontend && mkdir frontend && mv /build/dist frontend/dist \
    && DJANGO_SECRET_KEY=build-only-not-secret DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend \
    SHOPFLOW_SITE_URL=https://build.invalid CELERY_BROKER_URL=redis://build.invalid/0 \
    python manage.py collectstatic --noinput

FROM runtime

# The code stays owned by root: the app user can read it but not change it.
COPY --from=code /app /app

USER 10001:10001

EXPOSE 8000

CMD ["gunicorn", "config.asgi:application", "--worker-class", "config.web_worker.WebWorker", "--bind", "0.0.0.0:8000", "--reuse-port", "--access-logfile", "-"]
