#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 for the tests that run on it.
# Starts a local cluster if one is installed but stopped; says clearly when none is.
set -u
host=${CAREWATCH_TEST_PG_HOST:-127.0.0.1}
port=${CAREWATCH_TEST_PG_PORT:-5432}
ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null || \
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
if ready; then echo "PostgreSQL is up on $host:$port"; exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  done
  for _ in $(seq 1 30); do ready && { echo "PostgreSQL started on $host:$port"; exit 0; }; sleep 1; done
fi
echo "PostgreSQL is not reachable on $host:$port: the PostgreSQL tests will fail in CI" \
     "(and be skipped, with this reason, outside CI)." >&2
exit 0
