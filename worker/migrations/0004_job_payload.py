from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("worker", "0003_outbox_gone"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="payload",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("concurrency_key", ""), _negated=True),
                fields=["kind", "concurrency_key", "-id"],
                name="job_concurrency_key_idx",
            ),
        ),
    ]
