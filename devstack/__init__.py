"""`make run`: the whole stack on one machine, for development (installed only with
DJANGO_DEBUG=1). docker-compose.yml describes the production-shaped stack."""
