"""Storage tests run on both backends: every test using these fixtures runs as [sqlite] and
[postgres] (see tests/dbs.py; PostgreSQL being down fails the postgres half, never skips it)."""

from tests.dbs import database_fixture

# A fresh, empty database: a SQLite file in tmp_path, or a throwaway PostgreSQL schema.
db_url = database_fixture()
# The same, migrated to the head revision.
migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")
