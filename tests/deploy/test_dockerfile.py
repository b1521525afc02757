"""The Dockerfile: the web server by default, a non-root user, a production build on a
pinned base, no secret, a build context without what the runtime never runs (the compose
test looks inside the image it builds: tests/e2e/test_compose_stack.py)."""

import json
import re

from tests.support.compose import (
    DOCKERFILE,
    DOCKERIGNORE,
    argv_of,
    check_gunicorn_command,
)

# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with backslash continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_dockerfile_runs_the_web_server_by_default(services, env_example):
    commands = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    argv = json.loads(commands[-1])  # exec form: gunicorn gets the signals
    assert "config.asgi:application" in argv
    check_gunicorn_command(argv)
    assert argv == argv_of(services["web"]["command"], env_example)


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for keyword, args in dockerfile_instructions() if keyword == "USER"]
    assert users, "the Dockerfile never leaves root"
    assert users[-1] not in {"root", "0", "0:0"}


def test_dockerfile_builds_for_production_on_a_base_pinned_to_its_releases():
    instructions = dockerfile_instructions()
    stages = [args.split() for keyword, args in instructions if keyword == "FROM"]
    named = {stage[-1] for stage in stages if len(stage) == 3}  # FROM image AS name
    bases = {stage[0] for stage in stages} - named
    # Python's patch release and Debian's, by tag (a digest may follow).
    assert len(bases) == 1, bases
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", bases.pop())
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "DJANGO_DEBUG=0" in env
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any("pip install" in run and "requirements.txt" in run for run in runs)
    assert any("collectstatic --noinput" in run for run in runs)


def test_dockerfile_bakes_in_no_real_secret_key():
    for keyword, args in dockerfile_instructions():
        if "DJANGO_SECRET_KEY" not in args:
            continue
        # Only a RUN line may set it (ENV and ARG values stay in the image).
        assert keyword == "RUN", f"{keyword} {args}"
        for value in re.findall(r"DJANGO_SECRET_KEY=(\S+)", args):
            assert "build-only" in value or "not-secret" in value, value


def test_docker_build_context_leaves_out_local_state_secrets_tests_bench_and_docs():
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".env", ".venv", ".git", "var/", "staticfiles/", "tests/", "bench/", "docs/"):
        assert entry in ignored, f"add {entry} to .dockerignore"
    assert any("sqlite3" in entry for entry in ignored)
    assert any("__pycache__" in entry for entry in ignored)
