# Shopflow application image: one image for web (gunicorn), workers, beat, flower and the
# one-shot migrate job; docker-compose.yml picks the command per service.

# The React notifications tab (frontend/), built with Node.js from PyPI as `make` builds it;
# only its dist/ goes into the image.
FROM python:3.11-slim AS frontend
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build/frontend
COPY frontend/requirements.txt frontend/package.json frontend/package-lock.json ./
RUN pip install -r requirements.txt
RUN npm ci --no-audit --no-fund
COPY openapi.yaml /build/
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_DEBUG=0

WORKDIR /app

# An unprivileged user with a home (gunicorn keeps its control socket in ~/.gunicorn).
RUN groupadd --system shopflow \
    && useradd --system --gid shopflow --create-home --home-dir /home/shopflow shopflow

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays owned by root: the app user can read it but not change it.
COPY . .
COPY --from=frontend /build/frontend/dist frontend/dist

# Settings refuse to start without a secret key, a database, a mail backend and the site's
# address when DEBUG is off. These throwaway values are set for this one RUN line only (collectstatic uses
# none of them): they are not kept in the image's environment.
RUN DJANGO_SECRET_KEY=build-only-not-secret DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend \
    SHOPFLOW_SITE_URL=https://build.invalid python manage.py collectstatic --noinput

USER shopflow

EXPOSE 8000

CMD ["gunicorn", "config.asgi:application", "--worker-class", "config.web_worker.WebWorker", "--bind", "0.0.0.0:8000", "--reuse-port", "--access-logfile", "-"]
