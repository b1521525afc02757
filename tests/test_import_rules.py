"""import-linter's contracts (pyproject.toml, checked by `make test`) cover every app: each
app's services, tasks, receivers, locks and raw SQL are forbidden to the other packages,
save the public APIs declared here."""

import tomllib

from tests.support import PROJECT_DIR

CONFIG = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
PRIVATE = ("services", "tasks", "receivers", "locks", "sql")
# What other apps may call: a side effect's state (the checkout opens them, each side
# effect marks its own); sending an email once (notifications' digests).
PUBLIC = {"side_effects.services", "email_app.services"}


def private_modules() -> set[str]:
    found = set()
    # config, the project package, and devstack, make run's supervisor, sit above every app
    # (the layers contract); core is below them all: no app has modules of these names there.
    for package in set(CONFIG["root_packages"]) - {"config", "core", "devstack"}:
        for name in PRIVATE:
            if (PROJECT_DIR / package / f"{name}.py").is_file() or (
                PROJECT_DIR / package / name
            ).is_dir():
                found.add(f"{package}.{name}")
    return found


def test_every_private_module_of_an_app_is_forbidden_to_every_other_package():
    forbidden = {}
    for contract in CONFIG["contracts"]:
        if contract["type"] == "forbidden":
            for module in contract["forbidden_modules"]:
                forbidden.setdefault(module, set()).update(contract["source_modules"])
    missing = []
    for module in sorted(private_modules() - PUBLIC):
        owner = module.split(".")[0]
        others = set(CONFIG["root_packages"]) - {owner}
        if forbidden.get(module, set()) != others:
            missing.append(f"{module}: open to {sorted(others - forbidden.get(module, set()))}")
    assert not missing


def test_the_public_apis_are_not_forbidden():
    forbidden = {
        module
        for contract in CONFIG["contracts"]
        if contract["type"] == "forbidden"
        for module in contract["forbidden_modules"]
    }
    assert private_modules() >= PUBLIC
    assert not PUBLIC & forbidden
