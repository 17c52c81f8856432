"""The batch view's five tables and two seed views, computed by another engine from the same
raw objects, with the same rule: per scope, the latest snapshot wins.

    python bench/engines.py duckdb STORE OUT.json
    python bench/engines.py spark  STORE OUT.json
    python bench/engines.py carlambda STORE OUT.json   (reads the published batch view)

Each writes {"tables": {name: rows}, "body_style_counts": [...], "model_year_counts": [...]}.
The wall time is measured by the caller, around the whole process, start-up included.

Scopes here: `model:<id>` for each legacy line with an `id` and `years` (error bodies and
truncated lines never win), and `catalog` for the imported makes response. Rule 3 of "what
current means" (each column from the newest winning snapshot that has it) is applied where it
matters for these outputs: a model's make comes from the catalog (model snapshots do not
know it), its name from the newest snapshot with one; model years are the union of the
catalog's and the winning model snapshots'.

LIMITATION: ties in time_stamp are broken by record id in carlambda (a blake3 hash); these
queries do not compute it, so they pick an arbitrary one of tied snapshots. The generator
never writes two lines of one model with the same millisecond.
"""

import json
import os
import sys

TABLES = ["makes", "models", "model_years", "submodels", "styles"]

# Both engines read every line with one schema covering both kinds of line: legacy model
# responses (time_stamp, id, years) and raw record envelopes (the imported catalog).
STYLE = "STRUCT(id BIGINT, name VARCHAR, trim VARCHAR, submodel STRUCT(body VARCHAR, modelName VARCHAR, niceName VARCHAR))"
DUCK_COLUMNS = {
    "time_stamp": "DOUBLE",
    "id": "VARCHAR",
    "name": "VARCHAR",
    "niceName": "VARCHAR",
    "years": f"STRUCT(id BIGINT, year INTEGER, styles {STYLE}[])[]",
    "scope": "VARCHAR",
    "fetched_at": "VARCHAR",
    "error": "STRUCT(kind VARCHAR, message VARCHAR)",
    "body": "STRUCT(makes STRUCT(id BIGINT, name VARCHAR, niceName VARCHAR, models "
    "STRUCT(id VARCHAR, name VARCHAR, niceName VARCHAR, years "
    "STRUCT(id BIGINT, year INTEGER)[])[])[])",
}

SPARK_SCHEMA = (
    "time_stamp DOUBLE, id STRING, name STRING, niceName STRING, "
    "years ARRAY<STRUCT<id: BIGINT, year: INT, styles: ARRAY<STRUCT<id: BIGINT, name: STRING, "
    "trim: STRING, submodel: STRUCT<body: STRING, modelName: STRING, niceName: STRING>>>>>, "
    "scope STRING, fetched_at STRING, error STRUCT<kind: STRING, message: STRING>, "
    "body STRUCT<makes: ARRAY<STRUCT<id: BIGINT, name: STRING, niceName: STRING, "
    "models: ARRAY<STRUCT<id: STRING, name: STRING, niceName: STRING, "
    "years: ARRAY<STRUCT<id: BIGINT, year: INT>>>>>>>"
)

# The queries, over a relation `lines` with the columns above. Written in the SQL both
# DuckDB and Spark accept (explode/unnest differ, so each engine gets its own FROM clauses).
def queries(explode):
    """Returns {name: SQL}; `explode(array, alias)` gives the engine's lateral unnesting."""
    return {
        # Per model id, the legacy model response with the greatest time_stamp (milliseconds,
        # as carlambda truncates them).
        "model_win": """
            SELECT id AS model_id, name, niceName AS nice_name, years, ms FROM (
                SELECT *, floor(time_stamp * 1000) AS ms,
                       row_number() OVER (PARTITION BY id
                                          ORDER BY floor(time_stamp * 1000) DESC) AS rn
                FROM lines
                WHERE time_stamp IS NOT NULL AND id IS NOT NULL AND years IS NOT NULL
            ) t WHERE rn = 1""",
        # The latest catalog snapshot (fetched_at is fixed-width RFC 3339, so it sorts).
        "catalog_win": """
            SELECT body, fetched_at FROM (
                SELECT *, row_number() OVER (ORDER BY fetched_at DESC) AS rn
                FROM lines
                WHERE scope = 'catalog' AND error IS NULL AND body IS NOT NULL
            ) t WHERE rn = 1""",
        "cat_makes": f"""
            SELECT m.id AS make_id, m.name AS name, m.models AS models
            FROM catalog_win {explode('body.makes', 'm')}""",
        "cat_models": f"""
            SELECT mo.id AS model_id, make_id, mo.name AS name, mo.years AS years
            FROM cat_makes {explode('models', 'mo')}""",
        "makes": "SELECT DISTINCT make_id, name FROM cat_makes",
        "models": """
            SELECT coalesce(w.model_id, c.model_id) AS model_id, c.make_id AS make_id,
                   coalesce(w.name, c.name) AS name
            FROM model_win w FULL OUTER JOIN cat_models c ON w.model_id = c.model_id""",
        "model_years": f"""
            SELECT DISTINCT model_id, year FROM (
                SELECT model_id, y.year AS year FROM model_win {explode('years', 'y')}
                UNION ALL
                SELECT model_id, y.year AS year FROM cat_models {explode('years', 'y')}
            ) u""",
        "win_styles": f"""
            SELECT model_id, ms, s.id AS style_id, s.submodel AS submodel FROM (
                SELECT model_id, ms, y.styles AS styles FROM model_win {explode('years', 'y')}
            ) st {explode('styles', 's')}""",
        "submodels": """
            SELECT model_id, submodel.niceName AS nice_name, min(submodel.body) AS body
            FROM win_styles WHERE submodel IS NOT NULL
            GROUP BY model_id, submodel.niceName""",
        # A style id in several winning snapshots takes its row from the newest.
        "styles": """
            SELECT style_id, model_id, submodel.niceName AS submodel FROM (
                SELECT *, row_number() OVER (PARTITION BY style_id ORDER BY ms DESC) AS rn
                FROM win_styles
            ) t WHERE rn = 1""",
        "body_style_counts": """
            SELECT sm.body AS body, count(*) AS styles
            FROM styles s LEFT JOIN submodels sm
              ON s.model_id = sm.model_id AND s.submodel = sm.nice_name
            GROUP BY sm.body""",
        "model_year_counts": """
            SELECT y.model_id AS model_id, mk.name AS make, m.name AS model, y.years AS years
            FROM (SELECT model_id, count(*) AS years FROM model_years GROUP BY model_id) y
            LEFT JOIN models m ON y.model_id = m.model_id
            LEFT JOIN makes mk ON m.make_id = mk.make_id""",
    }


def result(count, rows):
    return {
        "tables": {name: int(count(name)) for name in TABLES},
        "body_style_counts": sorted(
            [[b, int(n)] for b, n in rows("SELECT body, styles FROM body_style_counts")],
            key=lambda r: (r[0] is None, r[0] or "", r[1]),
        ),
        "model_year_counts": sorted(
            [
                [m, mk, mo, int(n)]
                for m, mk, mo, n in rows(
                    "SELECT model_id, make, model, years FROM model_year_counts"
                )
            ]
        ),
    }


def run_duckdb(store):
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    raw = os.path.join(store, "raw", "**")
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCK_COLUMNS.items()) + "}"
    con.execute(
        f"CREATE TEMP TABLE lines AS SELECT * FROM read_ndjson('{raw}', columns = {columns}, "
        "ignore_errors = true, format = 'newline_delimited', maximum_object_size = 67108864)"
    )

    def explode(array, alias):
        return f", unnest({array}) AS _{alias}({alias})"

    for name, text in queries(explode).items():
        con.execute(f"CREATE TEMP TABLE {name} AS {text}")
    return result(
        lambda name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0],
        lambda text: con.execute(text).fetchall(),
    )


def run_spark(store):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("carlambda-bench")
        # 200 shuffle partitions (the default) for a few hundred MB on 2 cores would measure
        # task overhead, not Spark; 4 is what a user tuning for this machine would pick.
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    lines = (
        spark.read.schema(SPARK_SCHEMA)
        .option("mode", "DROPMALFORMED")
        .option("recursiveFileLookup", "true")
        .json(os.path.join(store, "raw"))
    )
    # Read the files once, as DuckDB's CREATE TABLE does.
    lines.cache().createOrReplaceTempView("lines")

    def explode(array, alias):
        return f" LATERAL VIEW explode({array}) _{alias} AS {alias}"

    for name, text in queries(explode).items():
        frame = spark.sql(text)
        if name in ("model_win", "catalog_win", "styles", "model_years"):
            frame = frame.cache()
        frame.createOrReplaceTempView(name)
    out = result(
        lambda name: spark.sql(f"SELECT count(*) FROM {name}").collect()[0][0],
        lambda text: [tuple(row) for row in spark.sql(text).collect()],
    )
    spark.stop()
    return out


def run_carlambda(store):
    import duckdb

    with open(os.path.join(store, "batch", "CURRENT")) as f:
        version = f.read().strip()
    base = os.path.join(store, "batch", version)
    con = duckdb.connect()
    for name in TABLES + ["body_style_counts", "model_year_counts"]:
        path = os.path.join(base, name, "*.parquet")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return result(
        lambda name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0],
        lambda text: con.execute(text).fetchall(),
    )


def main():
    engine, store, out = sys.argv[1:4]
    runs = {"duckdb": run_duckdb, "spark": run_spark, "carlambda": run_carlambda}
    doc = runs[engine](store)
    with open(out, "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    main()
