"""DeadLetter.error_group: the message folded into its group's message (issue 19 item 9).

A stored generated column (absurd_core/error_groups.py: quoted values, uuids, hex ids and
numbers folded), computed by PostgreSQL for every row, existing rows included, whoever
inserts it (the lifecycle trigger names its columns, so it is unaffected). Grouping then
reads the column instead of running six regular expressions per row at every page view
(bench/liveness_reads.py). The expression below is this migration's frozen copy.
"""

import django.db.models.functions.comparison
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("absurd_core", "0019_throughput_charts"),
    ]

    operations = [
        migrations.AddField(
            model_name="deadletter",
            name="error_group",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func(
                    models.Func(
                        models.Func(
                            models.Func(
                                models.Func(
                                    models.Func(
                                        django.db.models.functions.comparison.Coalesce(
                                            models.F("error_message"),
                                            models.Value(""),
                                            output_field=models.TextField(),
                                        ),
                                        models.Value("'[^']*'", output_field=models.CharField()),
                                        models.Value("'…'", output_field=models.CharField()),
                                        models.Value("g", output_field=models.CharField()),
                                        function="regexp_replace",
                                        output_field=models.TextField(),
                                    ),
                                    models.Value('"[^"]*"', output_field=models.CharField()),
                                    models.Value('"…"', output_field=models.CharField()),
                                    models.Value("g", output_field=models.CharField()),
                                    function="regexp_replace",
                                    output_field=models.TextField(),
                                ),
                                models.Value(
                                    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
                                    output_field=models.CharField(),
                                ),
                                models.Value("<uuid>", output_field=models.CharField()),
                                models.Value("g", output_field=models.CharField()),
                                function="regexp_replace",
                                output_field=models.TextField(),
                            ),
                            models.Value(
                                "\\m0[xX][0-9a-fA-F]+\\M", output_field=models.CharField()
                            ),
                            models.Value("<hex>", output_field=models.CharField()),
                            models.Value("g", output_field=models.CharField()),
                            function="regexp_replace",
                            output_field=models.TextField(),
                        ),
                        models.Value(
                            "\\m(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\\M",
                            output_field=models.CharField(),
                        ),
                        models.Value("<hex>", output_field=models.CharField()),
                        models.Value("g", output_field=models.CharField()),
                        function="regexp_replace",
                        output_field=models.TextField(),
                    ),
                    models.Value("[0-9]+([.,][0-9]+)*", output_field=models.CharField()),
                    models.Value("<n>", output_field=models.CharField()),
                    models.Value("g", output_field=models.CharField()),
                    function="regexp_replace",
                    output_field=models.TextField(),
                ),
                output_field=models.TextField(),
            ),
        ),
    ]
