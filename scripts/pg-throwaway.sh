# Sourced by the scripts that test against Postgres: a throwaway cluster in a temp dir, on a free
# port, owned by user postgres (pgrx's extension files are installed system-wide, the cluster is not).
#
#   pg_throwaway_start BINDIR DIR [server option ...]   # sets pg_port; DIR must exist
#   pg_throwaway_stop BINDIR DIR                         # safe to call twice or after a failed start

as_postgres() {
    if [[ "$(id -un)" == postgres ]]; then "$@"
    elif [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"
    else sudo -u postgres "$@"
    fi
}

pg_throwaway_start() {
    local bindir="$1" dir="$2"
    shift 2
    local opts="" o
    for o in "$@"; do opts+=" -c $o"; done
    chmod 755 "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
    pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_postgres "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start \
        -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1$opts" >/dev/null \
        || { cat "$dir/server.log" >&2; return 1; }
}

pg_throwaway_stop() {
    local bindir="$1" dir="$2"
    if [[ -n "$bindir" && -d "$dir/data" ]]; then
        as_postgres "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
}
