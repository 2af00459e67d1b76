from django.db import migrations


def create_queue(apps, schema_editor):
    """The queue of webhook_notify.deliver, with Absurd Control's triggers."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("select absurd.create_queue('webhooks')")
        cursor.execute("select absurd_control.install_queue('webhooks')")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("absurd_core", "0007_pause_and_listeners"),
    ]

    # Reversing keeps the queue: dropping it would delete deliveries still pending.
    operations = [migrations.RunPython(create_queue, migrations.RunPython.noop)]
