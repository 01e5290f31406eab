#!/usr/bin/env bash
# The gitdock test stack: a PRIVATE dockerd (its own data/exec root and unix
# socket, no bridge, no iptables) and a private registry on 127.0.0.1, plus the
# busybox-based test images pushed to that registry. See DESIGN.md section 7.
#
#   bash scripts/stack.sh up        start everything (idempotent, < 1 s when already up)
#   bash scripts/stack.sh down      stop registry and dockerd (data is kept)
#   bash scripts/stack.sh env       print the exports of the last `up` (eval-able)
#   bash scripts/stack.sh status    say what is up (exit 0 only when all of it is)
#   bash scripts/stack.sh registry-stop | registry-start | engine-restart
#                                   stop/start only the registry (tests of a registry that is down)
#
# Environment: GITDOCK_STACK_DIR (default /tmp/gitdock-stack; keep it short, unix
# socket paths are limited to 107 bytes), GITDOCK_REGISTRY_PORT (default 5055),
# GITDOCK_STACK_INSTALL=always (run the apt-get step even when nothing is missing).
# Never touches a system dockerd or /var/run/docker.sock.
set -euo pipefail

DIR=${GITDOCK_STACK_DIR:-/tmp/gitdock-stack}
PORT=${GITDOCK_REGISTRY_PORT:-5055}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES=$ROOT/scripts/images

DOCKER=/usr/bin/docker # the engine is 20.10 (API 1.41); /usr/local/bin may hold a newer client
DOCKERD=/usr/sbin/dockerd
REGISTRY_BIN=/usr/bin/docker-registry
BUSYBOX=/bin/busybox
BASE_IMAGE=gitdock-test-base:local
REGISTRY=127.0.0.1:$PORT
PREFIX=$REGISTRY/gitdock-test
APT_PACKAGES=(docker.io docker-registry busybox-static docker-compose git curl)

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DOCKER_HOST=unix://$DIR/docker.sock
export DOCKER_BUILDKIT=0
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

log() { printf '[stack] %s\n' "$*" >&2; }
die() {
  printf '[stack] ERROR: %s\n' "$*" >&2
  exit 1
}

# -- small helpers -------------------------------------------------------------

pid_of() { # pidfile -> pid on stdout if that process is alive and its cmdline matches $2
  local file=$1 want=$2 pid cmd
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"$want"* ]] || return 1
  printf '%s' "$pid"
}

# GET a path on the registry; body on stdout; fails unless 2xx. Plain bash over
# /dev/tcp, HTTP/1.0, 127.0.0.1 only: no curl on a bare Debian, and the static
# busybox wget segfaults with -T. Bounded: every read times out after 5 s.
http_get() (
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || exit 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$REGISTRY" >&3
  IFS= read -r -t 5 status <&3 || exit 1
  [[ $status =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]] || exit 1
  while IFS= read -r -t 5 line <&3; do
    [[ $line == $'\r' || -z $line ]] && break
  done
  while IFS= read -r -t 5 line <&3 || [[ -n $line ]]; do
    printf '%s\n' "$line"
    line=
  done
)

port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

docker_answers() { timeout 10 "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

dockerd_pid() { pid_of "$DIR/dockerd.pid" dockerd; }
containerd_pid() { pid_of "$DIR/exec/containerd/containerd.pid" "containerd --config $DIR/exec/containerd/"; }
registry_pid() { pid_of "$DIR/registry.pid" "docker-registry serve $DIR/registry.yml"; }

registry_ours() { # our registry process runs, with the config for $PORT
  registry_pid >/dev/null && [[ -f $DIR/registry.yml && $(<"$DIR/registry.yml") == "$(registry_config)" ]]
}
registry_up() { registry_ours && http_get /v2/ >/dev/null; }

stop_pid() { # name pid seconds: TERM, bounded wait, then KILL
  local name=$1 pid=$2 secs=$3 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name (pid $pid) did not stop in ${secs}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "$name (pid $pid) survived SIGKILL"
}

env_text() {
  printf 'export DOCKER_HOST=unix://%s/docker.sock\n' "$DIR"
  printf 'export GITDOCK_REGISTRY=%s\n' "$REGISTRY"
  printf 'export GITDOCK_STACK_DIR=%s\n' "$DIR"
}

# -- packages ------------------------------------------------------------------

busybox_static() {
  [[ -x $BUSYBOX ]] || return 1
  # A static binary has no ELF interpreter; ldd says so (wording differs by glibc).
  local out
  out=$(ldd "$BUSYBOX" 2>&1) || true
  [[ $out == *"not a dynamic executable"* || $out == *"statically linked"* ]]
}

ensure_packages() {
  # The package of each program the stack needs that is not there.
  local wanted=()
  [[ -x $DOCKERD && -x $DOCKER ]] || wanted+=(docker.io)
  [[ -x $REGISTRY_BIN ]] || wanted+=(docker-registry)
  busybox_static || wanted+=(busybox-static)
  command -v docker-compose >/dev/null || wanted+=(docker-compose)
  command -v git >/dev/null || wanted+=(git)
  command -v curl >/dev/null || wanted+=(curl) # the demo walkthrough reads /status with it
  [[ ${GITDOCK_STACK_INSTALL:-} == always ]] && wanted+=("(GITDOCK_STACK_INSTALL=always)")
  ((${#wanted[@]} == 0)) && return 0

  # Only packages not installed yet: naming an installed one to `apt-get
  # install` would upgrade it (and what it depends on) for nothing.
  local missing=() p
  for p in "${wanted[@]}"; do
    dpkg -s "$p" 2>/dev/null | grep -qx 'Status: install ok installed' || missing+=("$p")
  done
  # GITDOCK_STACK_INSTALL=always: the whole list; --no-upgrade leaves what is installed as it is.
  [[ ${GITDOCK_STACK_INSTALL:-} == always ]] && missing=("${APT_PACKAGES[@]}")
  if ((${#missing[@]} == 0)); then
    log "${wanted[*]}: installed already, yet a program is missing; not reinstalling"
    return 0
  fi

  log "installing ${missing[*]} with apt-get"
  ((EUID == 0)) || die "apt-get install needs root"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages from starting their system services (a system dockerd,
  # a system registry on :5000): this stack runs its own private ones.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added_policy=1
  fi
  local apt_opts=(-o Acquire::Retries=3 -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=120)
  # --no-upgrade: a package named here that is installed already is not upgraded.
  local install=(install -y --no-install-recommends --no-upgrade "${missing[@]}")
  local ok=0
  if compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null &&
    timeout 1200 apt-get "${apt_opts[@]}" "${install[@]}"; then
    ok=1
  else
    log "apt-get update"
    if timeout 600 apt-get "${apt_opts[@]}" update &&
      timeout 1200 apt-get "${apt_opts[@]}" "${install[@]}"; then
      ok=1
    fi
  fi
  ((added_policy)) && rm -f "$policy"
  ((ok)) || die "apt-get install ${missing[*]} failed"
  busybox_static || die "$BUSYBOX is not the static busybox even after installing busybox-static"
}

# -- dockerd -------------------------------------------------------------------

start_dockerd() {
  if dockerd_pid >/dev/null; then
    # Alive but maybe still starting (or an earlier `up` gave up waiting).
    wait_dockerd && return 0
    die "dockerd (pid $(dockerd_pid)) is running but $DOCKER_HOST does not answer; see $DIR/dockerd.log"
  fi
  ((EUID == 0)) || die "starting dockerd needs root"
  # A dockerd that was killed leaves its managed containerd dying (a zombie for
  # a moment) or orphaned; a new dockerd would find its pidfile, try to reuse it
  # and time out. Make sure it is gone first.
  local cfile=$DIR/exec/containerd/containerd.pid cpid i
  if cpid=$(containerd_pid); then
    log "stopping the leftover containerd (pid $cpid) of a dead dockerd"
    stop_pid containerd "$cpid" 10
  elif [[ -s $cfile ]]; then
    cpid=$(<"$cfile")
    for ((i = 0; i < 50; i++)); do # exiting or a zombie: empty cmdline
      [[ $cpid =~ ^[0-9]+$ && -e /proc/$cpid && ! -s /proc/$cpid/cmdline ]] || break
      sleep 0.1
    done
  fi
  rm -f "$cfile"
  rm -f "$DIR/dockerd.pid" "$DIR/docker.sock"
  [[ -f $DIR/dockerd.log ]] && mv -f "$DIR/dockerd.log" "$DIR/dockerd.log.1"
  # An own (empty) daemon.json so a system /etc/docker/daemon.json (hosts,
  # mirrors, ...) never leaks into the private engine.
  [[ -f $DIR/daemon.json ]] || printf '{}\n' >"$DIR/daemon.json"
  log "starting private dockerd on $DOCKER_HOST"
  setsid nohup "$DOCKERD" \
    --config-file "$DIR/daemon.json" \
    --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
    -H "unix://$DIR/docker.sock" \
    --bridge=none --iptables=false --ip6tables=false \
    --dns 127.0.0.1 \
    --shutdown-timeout 5 \
    </dev/null >"$DIR/dockerd.log" 2>&1 9>&- &
  wait_dockerd || {
    tail -n 30 "$DIR/dockerd.log" >&2 || true
    die "private dockerd did not come up in 30s (log: $DIR/dockerd.log)"
  }
}

wait_dockerd() { # bounded: 30 s
  local i
  for ((i = 0; i < 60; i++)); do
    [[ -S $DIR/docker.sock ]] && docker_answers && return 0
    if ((i > 4)) && ! dockerd_pid >/dev/null; then
      return 1 # died (the pidfile is written early; give it half a second)
    fi
    sleep 0.5
  done
  return 1
}

stop_dockerd() {
  local pid cpid
  cpid=$(containerd_pid) || cpid=
  if pid=$(dockerd_pid); then
    log "stopping dockerd (pid $pid)"
    stop_pid dockerd "$pid" 30
  fi
  # dockerd stops its managed containerd; make sure, should dockerd have been killed.
  if [[ -n $cpid ]] && kill -0 "$cpid" 2>/dev/null; then
    stop_pid containerd "$cpid" 10
  fi
  rm -f "$DIR/dockerd.pid"
  # dockerd leaves its netns bind mount (exec/netns/default) behind; drop what is
  # still mounted under the state dir, deepest first, so `rm -rf $DIR` works.
  local mnt
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || log "could not unmount $mnt"
  done < <(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# -- registry ------------------------------------------------------------------

registry_config() {
  cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/registry
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
EOF
}

start_registry() {
  local cfg want pid i
  cfg=$DIR/registry.yml
  want=$(registry_config)
  if [[ ! -f $cfg || $(<"$cfg") != "$want" ]]; then
    if pid=$(registry_pid); then
      log "registry config changed; restarting it"
      stop_pid registry "$pid" 10
    fi
    printf '%s\n' "$want" >"$cfg"
  fi
  registry_up && return 0
  if pid=$(registry_pid); then
    # Alive but not answering yet: give it a moment, then restart it.
    for ((i = 0; i < 20; i++)); do
      http_get /v2/ >/dev/null && return 0
      sleep 0.25
    done
    stop_pid registry "$pid" 10
  fi
  check_port
  mkdir -p "$DIR/registry"
  log "starting registry on $REGISTRY"
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$1"; exec "$2" serve "$3"' registry \
    "$DIR/registry.pid" "$REGISTRY_BIN" "$cfg" \
    </dev/null >>"$DIR/registry.log" 2>&1 9>&- &
  for ((i = 0; i < 120; i++)); do # bounded: 30 s
    http_get /v2/ >/dev/null && return 0
    if ((i > 8)) && ! registry_pid >/dev/null; then break; fi
    sleep 0.25
  done
  tail -n 20 "$DIR/registry.log" >&2 || true
  die "registry did not answer on http://$REGISTRY/v2/ (log: $DIR/registry.log)"
}

check_port() { # fail early when someone else listens on our registry port
  registry_ours && return 0
  if port_in_use "$PORT"; then
    die "127.0.0.1:$PORT is in use by another process (not this stack's registry); stop it or set GITDOCK_REGISTRY_PORT"
  fi
}

stop_registry() { # SIGKILL: it holds no state worth a graceful stop (SIGTERM takes 2 s)
  local pid i
  if pid=$(registry_pid); then
    log "stopping registry (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null || die "registry (pid $pid) survived SIGKILL"
  fi
  rm -f "$DIR/registry.pid"
}

# -- images --------------------------------------------------------------------

tree_hash() { # dirs/files... -> one hash of names, modes, symlinks and contents
  tar -C "$ROOT" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "$@" |
    sha256sum | cut -d' ' -f1
}

image_lines() { grep -Ev '^[[:space:]]*(#|$)' "$IMAGES/images.txt"; }

images_pushed() { # every name:tag of images.txt is in the registry
  local name tags listed tag
  while read -r name tags; do
    listed=$(http_get "/v2/gitdock-test/$name/tags/list") || return 1
    for tag in $tags; do
      [[ $listed == *"\"$tag\""* ]] || return 1
    done
  done < <(image_lines)
}

build_failed() {
  tail -n 20 "$DIR"/ctx/*.log >&2 || true
  die "$1 failed (logs: $DIR/ctx/*.log)"
}

wait_all() { # what pid... ; waits for every pid (each job is bounded by `timeout`)
  local what=$1 pid failed=0
  shift
  for pid in "$@"; do wait "$pid" || failed=1; done
  ((failed == 0)) || build_failed "$what"
}

build_images() {
  local hash base_hash stamp=$DIR/images.stamp ctx=$DIR/ctx
  base_hash=$(cat <(tree_hash scripts/images/base) <(sha256sum "$BUSYBOX") | sha256sum | cut -d' ' -f1)
  hash=$(printf '%s %s %s\n' "$base_hash" "$(tree_hash scripts/images)" "$PREFIX" | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$hash" ]] && images_pushed; then
    return 0
  fi
  local t0=$SECONDS name tags tag ref c refs=() pids=()
  log "building test images"
  rm -rf "$ctx/img" "$ctx"/*.log
  mkdir -p "$ctx"
  if ! timeout 30 "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 ||
    [[ ! -f $ctx/base.hash || $(<"$ctx/base.hash") != "$base_hash" ]]; then
    rm -rf "$ctx/base"
    cp -R "$IMAGES/base" "$ctx/base"
    cp "$BUSYBOX" "$ctx/base/busybox"
    timeout 300 "$DOCKER" build -q --network none -t "$BASE_IMAGE" "$ctx/base" >"$ctx/base.log" 2>&1 ||
      build_failed "building $BASE_IMAGE"
    printf '%s\n' "$base_hash" >"$ctx/base.hash"
  fi
  # The classic builder commits a layer per instruction, so build in parallel.
  while read -r name tags; do
    for tag in $tags; do
      ref=$PREFIX/$name:$tag
      c=$ctx/img/$name-$tag
      mkdir -p "$c"
      cp -R "$IMAGES/$name/." "$c/"
      mkdir -p "$c/rootfs"
      printf '%s %s\n' "$name" "$tag" >"$c/rootfs/VERSION"
      timeout 300 "$DOCKER" build -q --network none -t "$ref" "$c" >"$ctx/build-$name-$tag.log" 2>&1 &
      pids+=("$!")
      refs+=("$ref")
    done
  done < <(image_lines)
  wait_all "building the test images" "${pids[@]}"
  # Push the first alone (uploads the shared base layer once), then the rest in parallel.
  timeout 300 "$DOCKER" push "${refs[0]}" >"$ctx/push-0.log" 2>&1 || build_failed "pushing ${refs[0]}"
  pids=()
  for ((c = 1; c < ${#refs[@]}; c++)); do
    timeout 300 "$DOCKER" push "${refs[$c]}" >"$ctx/push-$c.log" 2>&1 &
    pids+=("$!")
  done
  wait_all "pushing the test images" "${pids[@]}"
  # Tests must really pull: drop the pushed tags from the engine (the base stays).
  timeout 120 "$DOCKER" rmi "${refs[@]}" >/dev/null
  rm -rf "$ctx/img"
  printf '%s\n' "$hash" >"$stamp"
  log "pushed ${#refs[@]} images to $PREFIX in $((SECONDS - t0))s"
}

# -- subcommands ---------------------------------------------------------------

lock() {
  mkdir -p "$DIR"
  exec 9>"$DIR/lock"
  flock -w 600 9 || die "could not lock $DIR/lock in 600s"
}

check_dir() {
  [[ $DIR == /* ]] || die "GITDOCK_STACK_DIR must be absolute: $DIR"
  # containerd's sockets live deeper than docker.sock; 107 bytes is the limit.
  ((${#DIR} <= 60)) || die "GITDOCK_STACK_DIR too long for unix sockets (max 60 chars): $DIR"
}

cmd_up() {
  check_dir
  ensure_packages
  lock
  check_port
  start_dockerd
  start_registry
  build_images
  env_text >"$DIR/env.tmp"
  mv -f "$DIR/env.tmp" "$DIR/env"
}

cmd_down() {
  [[ -d $DIR ]] || return 0
  lock
  stop_registry
  stop_dockerd
}

cmd_status() {
  local ok=0 pid v
  if pid=$(dockerd_pid); then
    if v=$(timeout 10 "$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null); then
      echo "dockerd:  up (pid $pid, $v, $DOCKER_HOST)"
    else
      echo "dockerd:  running (pid $pid) but not answering on $DOCKER_HOST"
      ok=1
    fi
  else
    echo "dockerd:  down"
    ok=1
  fi
  if pid=$(registry_pid); then
    if http_get /v2/ >/dev/null; then
      echo "registry: up (pid $pid, http://$REGISTRY)"
    else
      echo "registry: running (pid $pid) but not answering on http://$REGISTRY"
      ok=1
    fi
  else
    echo "registry: down"
    ok=1
  fi
  if registry_up && images_pushed; then
    echo "images:   pushed to $PREFIX"
  else
    echo "images:   missing"
    ok=1
  fi
  return "$ok"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
env) if [[ -f $DIR/env ]]; then cat "$DIR/env"; else env_text; fi ;;
status) cmd_status ;;
registry-stop)
  lock
  stop_registry
  ;;
registry-start)
  check_dir
  lock
  start_registry
  ;;
engine-restart) # for tests of an agent that must survive its engine restarting
  check_dir
  lock
  stop_dockerd
  start_dockerd
  wait_dockerd
  ;;
*)
  echo "usage: $0 up|down|env|status|registry-stop|registry-start|engine-restart" >&2
  exit 2
  ;;
esac
