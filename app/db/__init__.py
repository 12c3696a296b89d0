"""PostgreSQL through asyncpg: the embedded server, the pool, migrations and the repositories."""
