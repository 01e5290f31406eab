#!/usr/bin/env bash
# The gitdock demo: examples/fleet as a real git repo, applied to the private
# engine of scripts/stack.sh as host web-1, then the commands of the
# five-minute walkthrough (release, plan, apply, revert) printed ready to paste.
#
#   bash scripts/demo.sh        (re)create /tmp/gitdock-demo and apply it
#   bash scripts/demo.sh down   remove the demo's containers and /tmp/gitdock-demo
#
# `make demo` builds gitdock and starts the stack (`scripts/stack.sh up`) first.
# Every run starts the repo afresh; containers left by an earlier run are
# simply converged by apply, which is idempotent.
#
# Environment: GITDOCK_DEMO_DIR (default /tmp/gitdock-demo), and the stack's
# own GITDOCK_STACK_DIR / GITDOCK_REGISTRY_PORT (see scripts/stack.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=${GITDOCK_DEMO_DIR:-/tmp/gitdock-demo}
BARE=$DEMO/fleet.git
CLONE=$DEMO/fleet
HOST=web-1
# The services examples/fleet gives web-1: what `down` removes.
SERVICES=(appserver memcached)
# The registry examples/fleet names; the stack's may differ (GITDOCK_REGISTRY_PORT).
EXAMPLE_REGISTRY=127.0.0.1:5055
DOCKER=/usr/bin/docker # the engine is 20.10 (API 1.41); /usr/local/bin may hold a newer client
GIT=(git -c user.name=gitdock-demo -c user.email=demo@localhost -c init.defaultBranch=main)

say() { printf '\n== %s\n' "$*"; }
die() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

[[ $DEMO == /?*/?* ]] || die "GITDOCK_DEMO_DIR must be an absolute path below a directory: $DEMO"

# DOCKER_HOST (and GITDOCK_REGISTRY, GITDOCK_STACK_DIR) of the private engine.
# shellcheck source=/dev/null
source <(bash "$ROOT/scripts/stack.sh" env)
export DOCKER_HOST

engine_up() { timeout 10 "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

demo_containers() { # ids of the demo's containers on the engine, temporary ones included
  local service
  for service in "${SERVICES[@]}"; do
    "$DOCKER" ps -aq --filter "label=io.gitdock.host=$HOST" --filter "label=io.gitdock.service=$service"
  done
}

cmd_down() {
  if engine_up; then
    local ids
    mapfile -t ids < <(demo_containers)
    if ((${#ids[@]} > 0)); then
      echo "removing ${#ids[@]} demo containers from $DOCKER_HOST"
      "$DOCKER" rm -f "${ids[@]}" >/dev/null
    fi
  else
    echo "the engine at $DOCKER_HOST is not running; its demo containers (if any) stay until the next demo run"
  fi
  rm -rf "$DEMO"
  echo "removed $DEMO"
}

gitdock() { # show the command, then run it; plan's exit code 2 (changes pending) is no failure
  printf '+ gitdock %s\n' "$*"
  local rc=0
  node "$ROOT/bin/gitdock.js" "$@" || rc=$?
  if [[ $1 == plan && $rc == 2 ]]; then return 0; fi
  if ((rc != 0)); then
    die "gitdock $1 failed (exit $rc); see its output above"
  fi
}

make_repo() {
  rm -rf "$DEMO"
  mkdir -p "$DEMO"
  "${GIT[@]}" init -q --bare "$BARE"
  # The clone is made by hand rather than by `git clone`, which warns about
  # cloning an empty repository; the result is the same.
  "${GIT[@]}" init -q "$CLONE"
  git -C "$CLONE" remote add origin "$BARE"
  # The walkthrough's `git commit` runs in the clone: give it an author.
  git -C "$CLONE" config user.name gitdock-demo
  git -C "$CLONE" config user.email demo@localhost
  cp -R "$ROOT/examples/fleet/." "$CLONE/"
  # The files point editors at the JSON Schemas by a path relative to this
  # checkout; make it absolute so it still resolves from the clone.
  find "$CLONE" -name '*.yaml' -exec sed -i \
    "s#\\\$schema=\\(\\.\\./\\)*schemas/#\$schema=$ROOT/schemas/#" {} +
  if [[ $GITDOCK_REGISTRY != "$EXAMPLE_REGISTRY" ]]; then
    echo "(the stack's registry is $GITDOCK_REGISTRY: image references rewritten from $EXAMPLE_REGISTRY)"
    find "$CLONE" -name '*.yaml' -exec sed -i "s#$EXAMPLE_REGISTRY/#$GITDOCK_REGISTRY/#g" {} +
  fi
  "${GIT[@]}" -C "$CLONE" add -A
  "${GIT[@]}" -C "$CLONE" commit -q -m "Fleet: appserver on web-*, memcached and an appserver override on web-1"
  "${GIT[@]}" -C "$CLONE" push -q -u origin main
  git -C "$CLONE" --no-pager log -1 --format='commit %h: %s'
}

show_containers() {
  printf '+ docker ps --filter label=io.gitdock.host=%s\n' "$HOST"
  "$DOCKER" ps -a --filter "label=io.gitdock.host=$HOST" \
    --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{printf "%.12s" (.Label "io.gitdock.commit")}}'
}

print_walkthrough() {
  local stack_env=''
  if [[ $GITDOCK_STACK_DIR != /tmp/gitdock-stack ]]; then
    stack_env="export GITDOCK_STACK_DIR=$GITDOCK_STACK_DIR GITDOCK_REGISTRY_PORT=${GITDOCK_REGISTRY##*:}"$'\n'
  fi
  cat <<EOF

== Next: the five-minute walkthrough (paste these into a shell)

# Talk to the demo engine, and run this checkout's gitdock by name.
${stack_env}export DOCKER_HOST=$DOCKER_HOST
gitdock() { node $ROOT/bin/gitdock.js "\$@"; }
cd $CLONE

# 1. Release appserver 1.5.0: change the tag and push, like any commit.
#    web-1 has its own appserver file (it overrides services/appserver.yaml),
#    so a fleet-wide release changes both files.
sed -i 's/tag: "1.4.2"/tag: "1.5.0"/' services/appserver.yaml hosts/web-1/appserver.yaml
git --no-pager diff
git commit -qam "appserver 1.5.0"
git push -q

# 2. What would change on $HOST, and why (exit code 2: changes pending):
#      ~ recreate appserver  tag 1.4.2 -> 1.5.0
gitdock plan --host $HOST --repo $BARE

# 3. Deploy: pull 1.5.0, replace appserver, leave memcached alone.
gitdock apply --host $HOST --repo $BARE
$DOCKER ps

# 4. Roll back: revert the commit, push, apply (tag 1.5.0 -> 1.4.2).
git revert --no-edit HEAD
git push -q
gitdock apply --host $HOST --repo $BARE

# 5. Back where it started: everything in sync, so plan exits 0.
gitdock plan --host $HOST --repo $BARE; echo "exit \$?"

# Done? Remove the demo, then stop the private dockerd and registry.
cd $ROOT
make demo-down
make stack-down
EOF
}

cmd_up() {
  [[ -f $ROOT/dist/cli.js ]] || die "gitdock is not built; run \`make demo\` (or \`npm run build\`) first"
  engine_up || die "no engine answers at $DOCKER_HOST; run \`make demo\` (or \`bash scripts/stack.sh up\`) first"
  cd "$ROOT"

  say "A fleet repo: $BARE (bare, what a push lands in) and its clone $CLONE"
  make_repo

  local left
  left=$(demo_containers | wc -l)
  if ((left > 0)); then
    say "$left containers from an earlier demo run are on the engine: apply converges them"
  fi

  say "Validate every manifest of the commit (no engine needed)"
  gitdock validate --repo "$BARE"

  say "Plan host $HOST against the engine at $DOCKER_HOST"
  gitdock plan --host "$HOST" --repo "$BARE"

  say "Apply: pull what is missing, then create, replace or leave alone each container"
  gitdock apply --host "$HOST" --repo "$BARE"

  say "What runs now: labels on each container say which host, service and commit"
  show_containers
  echo "(commit: the commit that created the container; commits that do not change a"
  echo " service leave its container, and this label, alone)"

  print_walkthrough
}

case ${1:-up} in
up) cmd_up ;;
down) cmd_down ;;
*)
  echo "usage: $0 [up|down]" >&2
  exit 2
  ;;
esac
