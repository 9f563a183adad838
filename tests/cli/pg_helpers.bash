# SPDX-License-Identifier: MIT
# pg_helpers.bash — a PostgreSQL cluster of the test's own, for doctor_real.bats,
# tap_real.bats and tls_netns.bats. Loaded after helpers.bash; needs root (the server runs
# as the postgres user, which setpriv takes).

# pg_start [POSTGRES -c SETTINGS...]: a cluster in $T/pg listening only on its Unix socket in
# $T/pgsock (listen_addresses=''), run as the postgres user, initialised with the
# authentication PG_AUTH (default trust; peer checks the client's uid); PG_PREFIX (an
# array) runs the server under another command (ip netns exec NS). Sets PG_PID (the
# postmaster, which SIGTERM stops in the teardown) and PG_SOCK. Skips when PostgreSQL is
# not installed.
pg_start() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$bin/postgres" ] || skip "PostgreSQL is not installed (apt-get install postgresql)"
    id postgres >/dev/null 2>&1 || skip "no postgres user (apt-get install postgresql)"
    mkdir -m 0755 "$T/pg" "$T/pgsock"
    chown postgres "$T/pg" "$T/pgsock"
    timeout 60 setpriv --reuid=postgres --regid=postgres --init-groups "$bin/initdb" \
        -D "$T/pg/data" -A "${PG_AUTH:-trust}" -U postgres --no-sync >"$T/initdb.log" 2>&1
    # ip netns exec and setpriv exec what follows: BG_PID is the postmaster.
    bg_start "$T/pg.log" "${PG_PREFIX[@]}" setpriv --reuid=postgres --regid=postgres \
        --init-groups "$bin/postgres" -D "$T/pg/data" -k "$T/pgsock" -c listen_addresses= "$@"
    PG_PID=$BG_PID
    PG_SOCK=$T/pgsock/.s.PGSQL.5432
    wait_until 20 test -S "$PG_SOCK"
}

# need_psql: the client, from postgresql-client (a dependency of postgresql).
need_psql() {
    command -v psql >/dev/null || skip "psql is not installed (apt-get install postgresql-client)"
}
