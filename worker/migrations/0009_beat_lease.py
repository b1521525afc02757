from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0008_no_expiry_under_half_an_hour"),
    ]

    operations = [
        migrations.CreateModel(
            name="BeatLease",
            fields=[
                ("name", models.CharField(max_length=50, primary_key=True, serialize=False)),
                ("holder", models.CharField(max_length=200)),
                ("expires_at", models.DateTimeField()),
            ],
        ),
    ]
