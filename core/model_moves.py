"""For the migrations that move a model to another app with its table (core's models to
accounts, notifications and messaging; store's OrderSideEffect to side_effects): the
content types follow the models, and with them permissions and admin history."""

from django.db import migrations


def move_content_types(*models: str, from_app: str, to_app: str) -> migrations.RunPython:
    """A reversible migration operation moving the content types of `models` (lower-case
    model names) from the label `from_app` to `to_app`. The migration depends on
    contenttypes' 0002."""

    def forwards(apps, schema_editor):
        _move(apps, models, from_app, to_app)

    def backwards(apps, schema_editor):
        _move(apps, models, to_app, from_app)

    return migrations.RunPython(forwards, backwards)


def _move(apps, models, from_app, to_app) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in models:
        if not content_type.objects.filter(app_label=to_app, model=model).exists():
            content_type.objects.filter(app_label=from_app, model=model).update(app_label=to_app)
