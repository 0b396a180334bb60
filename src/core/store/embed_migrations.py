#!/usr/bin/env python3
"""Compile the store's migrations into C, or print the schema they produce.

    embed_migrations.py --output migrations.c --snapshot schema.sql NNN_name.sql...
        Writes a C file defining sm__store_migrations[] (one row per file:
        version "NNN", name, the SQL after `-- migrate:up`, the SQL after
        `-- migrate:down`), sm__store_migrations_table_sql and
        sm__store_schema_snapshot (schema.sql without its leading comment).
        meson runs this at build time (src/core/store/meson.build).

    embed_migrations.py --schema NNN_name.sql... > schema.sql
        Applies the migrations to an empty in-memory database and prints the
        schema snapshot that test_store compares a fresh migrate against.
        Run it after adding a migration and commit the result.

Every migrations/*.sql file must be named on the command line (meson lists
them), so a migration cannot be forgotten in the build.
"""
import argparse
import os
import re
import sqlite3
import sys

# The table of applied versions, as dbmate keeps it; the C side runs this text.
MIGRATIONS_TABLE_SQL = "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)"

SNAPSHOT_HEADER = (
    "-- The store's schema after every migration, as sqlite_master holds it.\n"
    "-- Generated; do not edit. After adding a migration, regenerate with\n"
    "--   python3 src/core/store/embed_migrations.py --schema "
    "src/core/store/migrations/*.sql > src/core/store/schema.sql\n"
    "-- test_store checks that a freshly migrated store matches it.\n"
)

NAME_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def fail(msg):
    print(f"embed_migrations.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_migration(path):
    base = os.path.basename(path)
    m = NAME_RE.match(base)
    if not m:
        fail(f"cannot use migration '{path}': name it NNN_lower_case_name.sql")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    up_at = text.find("-- migrate:up")
    down_at = text.find("-- migrate:down")
    if up_at < 0 or down_at < 0 or down_at < up_at:
        fail(f"cannot use migration '{path}': it needs a '-- migrate:up' section "
             "followed by a '-- migrate:down' section")
    up = text[up_at + len("-- migrate:up"):down_at].strip() + "\n"
    down = text[down_at + len("-- migrate:down"):].strip() + "\n"
    return {"version": m.group(1), "name": m.group(2), "up": up, "down": down}


def read_migrations(paths):
    migrations = sorted((read_migration(p) for p in paths), key=lambda m: m["version"])
    versions = [m["version"] for m in migrations]
    if len(set(versions)) != len(versions):
        fail(f"two migrations share a version: {versions}")
    if not migrations:
        fail("no migrations given")
    # Every file in the directory must be in the build.
    directory = os.path.dirname(os.path.abspath(paths[0]))
    listed = {os.path.basename(p) for p in paths}
    for f in os.listdir(directory):
        if NAME_RE.match(f) and f not in listed:
            fail(f"migration '{f}' is not listed in src/core/store/meson.build; add it there")
    return migrations


def c_string(text):
    out = []
    for line in text.splitlines(keepends=True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.append(f'    "{esc}"')
    return "\n".join(out) if out else '    ""'


def dump_schema(migrations):
    """The snapshot text, in the format of sm__store_dump_schema() in sqlite.c."""
    db = sqlite3.connect(":memory:")
    db.execute(MIGRATIONS_TABLE_SQL)
    for m in migrations:
        db.executescript(m["up"])
        db.execute("INSERT INTO schema_migrations (version) VALUES (?)", (m["version"],))
    rows = db.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY tbl_name, type DESC, name").fetchall()
    text = "".join(sql + ";\n" for (sql,) in rows)
    versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    text += "-- versions:" + "".join(" " + v for v in versions) + "\n"
    return text


def strip_header(text):
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].startswith("--") and not lines[i].startswith("-- versions:"):
        i += 1
    return "".join(lines[i:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", help="the C file to write")
    ap.add_argument("--snapshot", help="schema.sql, embedded for test_store")
    ap.add_argument("--schema", action="store_true", help="print the schema snapshot")
    ap.add_argument("migrations", nargs="+")
    args = ap.parse_args()
    migrations = read_migrations(args.migrations)

    if args.schema:
        sys.stdout.write(SNAPSHOT_HEADER + dump_schema(migrations))
        return
    if not args.output or not args.snapshot:
        fail("pass --output and --snapshot, or --schema")
    with open(args.snapshot, encoding="utf-8") as f:
        snapshot = strip_header(f.read())

    rows = []
    for m in migrations:
        rows.append("    {\n"
                    f'        "{m["version"]}",\n'
                    f'        "{m["name"]}",\n'
                    f"{c_string(m['up'])},\n"
                    f"{c_string(m['down'])},\n"
                    "    },")
    text = (
        "/*\n"
        " * migrations.c: generated by src/core/store/embed_migrations.py from\n"
        " * src/core/store/migrations/NNN_name.sql and schema.sql; do not edit.\n"
        " */\n"
        "#include <stddef.h>\n\n"
        '#include "store/internal.h"\n\n'
        '#include "util/banned.h"\n\n'
        "const struct sm__migration sm__store_migrations[] = {\n"
        + "\n".join(rows) + "\n};\n\n"
        f"const size_t sm__store_n_migrations = {len(migrations)};\n\n"
        f"const char sm__store_migrations_table_sql[] =\n{c_string(MIGRATIONS_TABLE_SQL)};\n\n"
        f"const char sm__store_schema_snapshot[] =\n{c_string(snapshot)};\n"
    )
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
