"""A delivery's job is required, and an endpoint's deliveries list by their jobs' ids
(made in order), newest first: the index of that list is (endpoint, job)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0004_delivery_job"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="job",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="webhook_delivery",
                to="worker.job",
            ),
        ),
        migrations.AlterModelOptions(
            name="delivery",
            options={"ordering": ["-job_id"], "verbose_name_plural": "deliveries"},
        ),
        migrations.RemoveIndex(model_name="delivery", name="webhook_delivery_endpoint_idx"),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["endpoint", "job"], name="webhook_delivery_endpoint_idx"),
        ),
    ]
