#!/usr/bin/env bash
# The gitdock demo: examples/fleet as a real bare git repo, and `gitdock agent`
# for host web-1 watching it, converging the private engine of scripts/stack.sh:
# two gitdock manifests (appserver, memcached) and the Compose project "shop"
# (proxy, app, db). Then the commands of the five-minute walkthrough (release
# with `git push`, roll back with `git revert` + push, a config file of the
# Compose project changed in git) are printed ready to paste.
#
#   bash scripts/demo.sh        (re)create /tmp/gitdock-demo, start the agent
#   bash scripts/demo.sh down   stop the agent, remove the demo's containers,
#                               the shop project's network and its volume
#                               (the demo is throwaway: its database volume
#                               goes too, which gitdock itself never does),
#                               and /tmp/gitdock-demo
#
# `make demo` builds gitdock and starts the stack (`scripts/stack.sh up`) first.
# Every run starts the repo afresh; containers left by an earlier run are
# simply converged by apply, which is idempotent.
#
# The agent runs in the background (pid in $DEMO/agent.pid, JSON logs in
# $DEMO/agent.log) so the walkthrough can be pasted into the same shell.
#
# Environment: GITDOCK_DEMO_DIR (default /tmp/gitdock-demo), GITDOCK_DEMO_LISTEN
# (the agent's address, default 127.0.0.1:9420), and the stack's own
# GITDOCK_STACK_DIR / GITDOCK_REGISTRY_PORT (see scripts/stack.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=${GITDOCK_DEMO_DIR:-/tmp/gitdock-demo}
BARE=$DEMO/fleet.git
CLONE=$DEMO/fleet
HOST=web-1
LISTEN=${GITDOCK_DEMO_LISTEN:-127.0.0.1:9420}
# The agent address examples/fleet/gitdock.yaml names for web-1.
EXAMPLE_LISTEN=127.0.0.1:9420
AGENT_URL=http://$LISTEN
AGENT_PID=$DEMO/agent.pid
AGENT_LOG=$DEMO/agent.log
# The host's own env files of Compose projects (never in git): $ENV_DIR/shop.env.
ENV_DIR=$DEMO/env
STATE_DIR=$DEMO/state
# The manifests' services and the Compose project examples/fleet gives web-1: what `down` removes.
SERVICES=(appserver memcached)
PROJECT=shop
# Where the shop project's proxy answers (examples/fleet/hosts/web-1/shop/compose.yaml).
SHOP_URL=http://127.0.0.1:8088/
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
  "$DOCKER" ps -aq --filter "label=io.gitdock.host=$HOST" --filter "label=io.gitdock.project=$PROJECT"
}

# The shop project's networks (shop_default) or volumes (shop_db_data), by the
# labels gitdock puts on them: `demo_resources network` / `demo_resources volume`.
demo_resources() {
  "$DOCKER" "$1" ls -q --filter "label=io.gitdock.host=$HOST" --filter "label=io.gitdock.project=$PROJECT"
}

# Stops the demo agent, if one runs: SIGTERM lets it finish the step in hand.
stop_agent() {
  [[ -f $AGENT_PID ]] || return 0
  local pid i
  pid=$(<"$AGENT_PID")
  if kill -0 "$pid" 2>/dev/null; then
    echo "stopping the demo agent (pid $pid)"
    kill -TERM "$pid"
    for ((i = 0; i < 150; i++)); do # at most 30 s: a health check in hand may take that long
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "the agent did not stop in 30 s; killing it (the next run finishes its step)"
      kill -KILL "$pid"
    fi
  fi
  rm -f "$AGENT_PID"
}

cmd_down() {
  stop_agent
  if engine_up; then
    local ids
    mapfile -t ids < <(demo_containers)
    if ((${#ids[@]} > 0)); then
      echo "removing ${#ids[@]} demo containers from $DOCKER_HOST"
      "$DOCKER" rm -f "${ids[@]}" >/dev/null
    fi
    mapfile -t ids < <(demo_resources network)
    if ((${#ids[@]} > 0)); then
      echo "removing the $PROJECT project's networks: $("$DOCKER" network inspect -f '{{.Name}}' "${ids[@]}" | paste -sd ' ')"
      "$DOCKER" network rm "${ids[@]}" >/dev/null
    fi
    # gitdock never removes a volume unless the repo says so (remove_volumes in
    # gitdock.yaml); the demo is throwaway, so `down` removes its database volume.
    mapfile -t ids < <(demo_resources volume)
    if ((${#ids[@]} > 0)); then
      echo "removing the $PROJECT project's volumes (demo data only): ${ids[*]}"
      "$DOCKER" volume rm "${ids[@]}" >/dev/null
    fi
  else
    echo "the engine at $DOCKER_HOST is not running; its demo containers, the $PROJECT network and volume (if any) stay until the next demo run"
  fi
  # Repo files under the state dir are written read-only (0444, directories 0555).
  [[ -d $DEMO ]] && chmod -R u+w "$DEMO"
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
    echo "(the stack's registry is $GITDOCK_REGISTRY: image references and the policy rewritten from $EXAMPLE_REGISTRY)"
    # Every mention, not only `registry/` in images: gitdock.yaml's
    # allowed_registries names the bare registry.
    find "$CLONE" -name '*.yaml' -exec sed -i "s#$EXAMPLE_REGISTRY#$GITDOCK_REGISTRY#g" {} +
  fi
  if [[ $LISTEN != "$EXAMPLE_LISTEN" ]]; then
    echo "(the agent listens on $LISTEN: gitdock.yaml's agent URL rewritten from $EXAMPLE_LISTEN)"
    sed -i "s#http://$EXAMPLE_LISTEN#http://$LISTEN#" "$CLONE/gitdock.yaml"
  fi
  "${GIT[@]}" -C "$CLONE" add -A
  "${GIT[@]}" -C "$CLONE" commit -q -m "Fleet: appserver on web-*, memcached and an appserver override on web-1, the shop project on web-1"
  "${GIT[@]}" -C "$CLONE" push -q -u origin main
  git -C "$CLONE" --no-pager log -1 --format='commit %h: %s'
}

# The host's own variables of the shop project: a generated database password,
# in $ENV_DIR/shop.env, readable by its owner only. It never enters git.
make_env_dir() {
  install -d -m 0700 "$ENV_DIR"
  (
    umask 077
    printf 'DB_PASSWORD=%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$ENV_DIR/$PROJECT.env"
  )
  echo "host env file: $ENV_DIR/$PROJECT.env (DB_PASSWORD, generated; not in git)"
}

show_containers() {
  printf '+ docker ps --filter label=io.gitdock.host=%s\n' "$HOST"
  "$DOCKER" ps -a --filter "label=io.gitdock.host=$HOST" \
    --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{printf "%.12s" (.Label "io.gitdock.commit")}}'
}

# Two small helpers in $DEMO for the walkthrough (node is there: gitdock needs it).
#   status-table   the agent's /status, read on stdin, as a short table
#   wait-agent     waits (at most 60 s) until the agent is done with the clone's
#                  HEAD (applied, failed or found invalid, its image pulls over);
#                  `wait-agent heal`: until a pass that an engine event started
#                  (drift) has ended. `gitdock status --wait 60s` waits for a whole
#                  fleet, but here web-2 and web-3 run no agent, so it never would.
write_helpers() {
  cat >"$DEMO/status-table" <<'JS'
#!/usr/bin/env node
// The gitdock agent's /status, read on stdin, as a short table.
let text = '';
process.stdin.on('data', (d) => (text += d)).on('end', () => {
  let s;
  try {
    s = JSON.parse(text);
  } catch {
    console.error('status-table: no /status on stdin; is the agent running?');
    process.exit(1);
  }
  const short = (c) => (c ? c.slice(0, 12) : '-');
  const last = s.lastReconcile;
  console.log(
    `host ${s.host}  desired ${short(s.desiredCommit)}  applied ${short(s.lastAppliedCommit)}  last reconcile: ${last ? `${last.result} (${last.trigger})` : '-'}`,
  );
  for (const v of s.services)
    console.log(
      `  ${v.name.padEnd(14)} ${v.sync.padEnd(10)} ${v.health.padEnd(11)} ${v.runningImage ?? '-'}${v.reason ? `  (${v.reason})` : ''}`,
    );
  for (const e of s.errors)
    console.log(`  error ${e.code ?? ''}: ${e.file ? `${e.file}:${e.line ?? ''} ` : ''}${e.message}`);
});
JS
  {
    printf '#!/usr/bin/env node\n'
    printf 'const url = %s;\nconst logFile = %s;\n' "'$AGENT_URL/status'" "'$AGENT_LOG'"
    cat <<'JS'
// Waits (at most 60 s) until the demo agent is done with the commit at HEAD
// of the current directory's repository: a pass at it has ended, no pass
// runs, and no service waits for an image pull (the pass that the end of
// the pull starts is the one that applies it). With `heal`: until a pass
// that an engine event started after this command (drift) has ended.
const heal = process.argv[2] === 'heal';
const head = heal
  ? null
  : require('node:child_process').execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
const since = Date.now() - 500;
const deadline = Date.now() + 60_000;
const done = (s) => {
  const last = s.lastReconcile;
  if (s.running !== null || !last) return false;
  if (heal) return last.trigger.startsWith('engine: ') && Date.parse(last.startedAt) >= since;
  return last.commit === head && !s.services.some((v) => (v.reason ?? '').includes('(pulling '));
};
(async () => {
  for (;;) {
    const s = await fetch(url).then((r) => r.json()).catch(() => null);
    if (s && done(s)) return;
    if (Date.now() > deadline) {
      console.error(`wait-agent: the agent was not done within 60 s; see ${logFile}`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
})();
JS
  } >"$DEMO/wait-agent"
  chmod +x "$DEMO/status-table" "$DEMO/wait-agent"
}

# The agent's /status as a short table: the command shown is the one run.
show_status() {
  printf '+ curl -s %s/status | %s/status-table\n' "$AGENT_URL" "$DEMO"
  curl -s "$AGENT_URL/status" | "$DEMO/status-table"
}

# Waits (bounded) until the agent reports every service Synced at the bare repo's HEAD.
wait_converged() {
  local head i status
  head=$(git -C "$BARE" rev-parse HEAD)
  for ((i = 0; i < 120; i++)); do # at most 60 s
    if ! kill -0 "$(<"$AGENT_PID")" 2>/dev/null; then
      tail -n 20 "$AGENT_LOG" >&2
      die "the agent exited; its last log lines are above ($AGENT_LOG)"
    fi
    # Empty until the agent listens.
    status=$(curl -sf --max-time 2 "$AGENT_URL/status" 2>/dev/null) || status=''
    if [[ -n $status ]] && node -e '
      const s = JSON.parse(process.argv[1]);
      const ok = s.lastAppliedCommit === process.argv[2] && s.services.every((v) => v.sync === "Synced");
      process.exit(ok ? 0 : 1);' "$status" "$head"; then
      return 0
    fi
    sleep 0.5
  done
  show_status || true
  die "the agent did not converge $HOST to ${head:0:12} within 60 s; see $AGENT_LOG"
}

start_agent() {
  stop_agent
  : >"$AGENT_LOG"
  printf '+ gitdock agent --host %s --repo %s --listen %s --interval 30s --report-ref --state-dir %s --env-dir %s >%s &\n' \
    "$HOST" "$BARE" "$LISTEN" "$STATE_DIR" "$ENV_DIR" "$AGENT_LOG"
  # setsid: the agent outlives this script and the terminal's Ctrl-C.
  # --report-ref: refs/gitdock/applied/web-1 in the bare repo follows what runs.
  # --state-dir: its held releases, and the repo files the shop project mounts
  #   (content-addressed), are kept in $DEMO/state, removed with the demo.
  # --env-dir: the shop project's DB_PASSWORD, from $ENV_DIR/shop.env.
  setsid node "$ROOT/bin/gitdock.js" agent --host "$HOST" --repo "$BARE" --listen "$LISTEN" \
    --interval 30s --report-ref --state-dir "$STATE_DIR" --env-dir "$ENV_DIR" \
    >"$AGENT_LOG" 2>&1 </dev/null &
  echo $! >"$AGENT_PID"
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

# The agent (pid $(<"$AGENT_PID")) watches $BARE: a push is the deploy.
# Follow what it decides:   tail -f $AGENT_LOG
# What it runs, and why:    curl -s $AGENT_URL/status | $DEMO/status-table
# \`gitdock status --wait 60s\` waits (at most 60 s) until every host with an
# agent is Synced at the commit just pushed (web-2 and web-3 run none in this
# demo: they are shown, not waited for), then shows the fleet.

# 1. Release appserver 1.5.0: change the tag, commit, push. That is all.
#    web-1 has its own appserver file (it overrides services/appserver.yaml),
#    so a fleet-wide release changes both files.
sed -i 's/tag: "1.4.2"/tag: "1.5.0"/' services/appserver.yaml hosts/web-1/appserver.yaml
git commit -qam "appserver 1.5.0"
gitdock diff origin/main   # what the push will do, host by host (web-2, web-3 too)
git push -q
gitdock status --repo $BARE --wait 60s; $DOCKER ps     # appserver 1.5.0 replaced 1.4.2; memcached untouched

# 2. Roll back: revert the commit and push (tag 1.5.0 -> 1.4.2).
git revert --no-edit HEAD
git push -q
gitdock status --repo $BARE --wait 60s

# 3. Drift heals itself: stop a container by hand, and watch it come back.
#    (wait-agent heal: until the pass that the engine's events started has ended)
$DOCKER stop memcached; $DEMO/wait-agent heal; $DOCKER ps

# 4. A broken commit never takes over: a typo is refused, file:line in /status.
echo "portz: []" >> hosts/web-1/memcached.yaml
git commit -qam "typo"; git push -q
$DEMO/wait-agent; curl -s $AGENT_URL/status | $DEMO/status-table
git revert --no-edit HEAD; git push -q; gitdock status --repo $BARE --wait 60s

# 5. The Compose project "shop" (hosts/$HOST/shop/compose.yaml): proxy, app, db.
#    Its services are shop/proxy, shop/app, shop/db; containers shop-proxy-1, ...
curl -s $SHOP_URL                          # the proxy serves ./site/shop.html
$DOCKER exec shop-app-1 nslookup db        # app finds its database by name, on shop_default
$DOCKER exec shop-app-1 sh -c 'echo "DB_PASSWORD: \${#DB_PASSWORD} characters"'   # from $ENV_DIR/shop.env, never in git
#    A config file from the repo travels with the commit: change it, and only
#    the proxy (which mounts it) is recreated, with the file named as the reason.
echo "E404:shop.html" >> hosts/$HOST/shop/httpd.conf
git commit -qam "shop: the proxy answers 404s with the shop page"
gitdock diff origin/main   # ~ shop/proxy ... [hosts/$HOST/shop/httpd.conf]; app and db unchanged
git push -q
gitdock status --repo $BARE --wait 60s; $DOCKER ps --filter label=io.gitdock.project=shop   # only shop-proxy-1 is new
curl -s ${SHOP_URL}nope                    # the shop page, from the new config
gitdock history --service shop/proxy       # the commits that changed shop/proxy

# 6. Read what happened to $HOST, release by release; see the fleet on one
#    screen (web-2 and web-3 run no agent in this demo).
gitdock history --host $HOST
gitdock status --repo $BARE
git fetch -q origin '+refs/gitdock/applied/*:refs/gitdock/applied/*'
git --no-pager log --oneline --decorate --clear-decorations -3   # (refs/gitdock/applied/$HOST)

# Done? Remove the demo (its containers, the shop network and, the demo being
# throwaway, the shop_db_data volume), then stop the private dockerd and registry.
cd $ROOT
make demo-down
make stack-down
EOF
}

cmd_up() {
  [[ -f $ROOT/dist/cli.js ]] || die "gitdock is not built; run \`make demo\` (or \`npm run build\`) first"
  engine_up || die "no engine answers at $DOCKER_HOST; run \`make demo\` (or \`bash scripts/stack.sh up\`) first"
  cd "$ROOT"

  # An agent of an earlier run watches the repo about to be made afresh: stop it first.
  stop_agent
  say "A fleet repo: $BARE (bare, what a push lands in) and its clone $CLONE"
  make_repo
  make_env_dir
  write_helpers

  local left
  left=$(demo_containers | wc -l)
  if ((left > 0)); then
    say "$left containers from an earlier demo run are on the engine: apply converges them"
  fi

  say "Validate every manifest of the commit (no engine needed)"
  gitdock validate --repo "$BARE"

  say "Plan host $HOST against the engine at $DOCKER_HOST (with its own variables: --env-dir)"
  gitdock plan --host "$HOST" --repo "$BARE" --env-dir "$ENV_DIR"

  say "Start the agent for $HOST: it converges the engine to the branch, then watches it"
  start_agent
  wait_converged
  show_status

  say "What runs now: labels on each container say which host, service and commit"
  show_containers
  echo "(commit: the commit that created the container; commits that do not change a"
  echo " service leave its container, and this label, alone)"

  say "The shop project's proxy answers on $SHOP_URL"
  printf '+ curl -s %s\n' "$SHOP_URL"
  curl -s --max-time 5 "$SHOP_URL" || die "the shop proxy does not answer on $SHOP_URL; see $AGENT_LOG"

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
