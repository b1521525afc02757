"""One account per email address, compared case-insensitively: a unique index on
LOWER(email) of the user table (Django's auth.User, AUTH_USER_MODEL), blank emails left
out (an account may have none: staff made in a shell, the admin's own form).

The ORM cannot say this here: a UniqueConstraint(Lower("email")) belongs in the Meta of
the model it constrains, and auth.User is Django's, not this app's. So it is SQL that
PostgreSQL and SQLite both take (an expression index with a WHERE), with its reverse.
accounts.services.user_register checks first, for the friendly 400; the index is what
holds when two sign-ups with one address race.

If the database already has accounts sharing an email address (in any case), this
migration stops before it builds the index, naming them, and changes nothing. The
operator then gives each of those accounts its own address, or blanks the email of the
ones that should have none (in the admin: Users; or `manage.py shell`), and runs
`manage.py migrate` again. Nothing is merged or changed here on purpose: which of two
accounts keeps an address is a person's call, and the reset links go to it.
"""

from django.db import migrations
from django.db.models import Count
from django.db.models.functions import Lower

INDEX = "auth_user_email_lower_unique"
SHOWN = 20  # duplicates named in the error at most


def refuse_shared_emails(apps, schema_editor):
    User = apps.get_model("auth", "User")
    shared = (
        User.objects.using(schema_editor.connection.alias)
        .exclude(email="")
        .annotate(email_lower=Lower("email"))
        .values("email_lower")
        .annotate(accounts=Count("id"))
        .filter(accounts__gt=1)
        .order_by("email_lower")
    )
    found = list(shared[: SHOWN + 1])
    if not found:
        return
    users = User.objects.using(schema_editor.connection.alias).annotate(email_lower=Lower("email"))
    named = []
    for row in found[:SHOWN]:
        ids = users.filter(email_lower=row["email_lower"]).order_by("id").values_list("id", flat=True)
        named.append(f"{row['email_lower']} (user ids {', '.join(map(str, ids))})")
    more = "\n  and more" if len(found) > SHOWN else ""
    raise RuntimeError(
        "accounts 0003: these email addresses belong to more than one account each "
        "(compared case-insensitively), so one account per email address cannot be made "
        "to hold:\n  " + "\n  ".join(named) + more + "\nGive each account its own address, "
        "or blank the email of those that should have none (admin: Users), then run "
        "`manage.py migrate` again. Nothing was changed."
    )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_signupattempt_passwordresetrequest'),
        # The table below is auth.User's (AUTH_USER_MODEL is not swapped).
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.RunPython(refuse_shared_emails, migrations.RunPython.noop),
        migrations.RunSQL(
            sql=f"CREATE UNIQUE INDEX {INDEX} ON auth_user (LOWER(email)) WHERE email <> ''",
            reverse_sql=f"DROP INDEX IF EXISTS {INDEX}",
        ),
    ]
