# Shell functions the project's scripts share: a Python virtualenv with pinned tools, and a
# local moto server standing in for S3 and Kinesis. Source it from a script that has `set -euo
# pipefail` and a `say` function.

# venv_with REQUIREMENTS: makes sure the virtualenv $venv (default ~/.cache/carlambda/venv)
# exists and holds REQUIREMENTS, installing them only when the file changed since the last
# install. Sets `venv`.
venv_with() {
    local requirements=$1
    venv=${CARLAMBDA_VENV:-$HOME/.cache/carlambda/venv}
    if ! "$venv/bin/python" -c '' 2>/dev/null; then
        say "creating a Python virtualenv in $venv"
        "${PYTHON:-python3}" -m venv --clear "$venv"
    fi
    local stamp
    stamp=$venv/.carlambda-$(basename "$(dirname "$requirements")")-$(basename "$requirements").sha256
    local wanted
    wanted=$(sha256sum "$requirements" | cut -d ' ' -f 1)
    if [[ $(cat "$stamp" 2>/dev/null) != "$wanted" ]]; then
        say "installing $requirements into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
        printf '%s\n' "$wanted" >"$stamp"
    else
        say "Python tools of $requirements in $venv are up to date"
    fi
}

# start_moto: starts moto (from the virtualenv of scripts/requirements-test.txt) on a free
# loopback port, points every AWS client of this shell at it with test credentials, and stops
# it when the shell exits. Sets `moto_pid`.
start_moto() {
    venv_with scripts/requirements-test.txt
    local port
    port=$("$venv/bin/python" -c '
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
')
    moto_log=$(mktemp "${TMPDIR:-/tmp}/carlambda-moto.XXXXXX")
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
    moto_pid=$!
    trap stop_moto EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    say "starting moto on 127.0.0.1:$port"
    local deadline=$((SECONDS + 60))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "$moto_pid" 2>/dev/null; then
            say "moto exited before it listened; its output:"
            cat "$moto_log" >&2
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            say "moto did not listen on port $port within 60 s; its output:"
            cat "$moto_log" >&2
            exit 1
        fi
        sleep 0.1
    done
    # Someone else could have taken the port between the pick and moto's bind; then moto is
    # gone.
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        say "moto exited right after starting (port $port taken?); its output:"
        cat "$moto_log" >&2
        exit 1
    fi

    # Point every AWS client at moto, and make sure none can reach a real account.
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
    local name
    for name in $(compgen -e | grep '^AWS_ENDPOINT_URL_' || true); do
        unset "$name"
    done
    export AWS_ENDPOINT_URL=http://127.0.0.1:$port
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
}

stop_moto() {
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    rm -f "$moto_log"
}
