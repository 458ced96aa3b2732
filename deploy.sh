#!/usr/bin/env bash
# Zero-downtime deployment of ncr-upload with Docker Compose (docker-compose.yml next to this file).
#
#   ./deploy.sh deploy     build, start new api replicas next to the old ones, wait until they are
#                          ready and HAProxy routes to them, drain the old ones (HAProxy stops
#                          sending them requests, then SIGTERM), then roll the workers the same way
#   ./deploy.sh rollback   the same with the previous image (swaps it with the current one)
#   ./deploy.sh status     each container: service, state, health, image and version
#   ./deploy.sh health     check /health and /ready through the proxy on API_PORT
#   ./deploy.sh monitor    print containers, memory and worker statistics every 5 s
#
# Reads .env (the environment wins): API_PORT (8001), SHUTDOWN_TIMEOUT (30), IMAGE (ncr-upload),
# TAG (latest). Also: APP_VERSION (default: git describe), HEALTH_TIMEOUT seconds to wait for new
# containers (180), DRAIN_TIMEOUT seconds to wait for requests in flight on a drained replica (30).
set -euo pipefail
cd "$(dirname "$0")"

# The value of NAME: the environment, else the last NAME=... line of .env, else DEFAULT.
setting() {
  local name="$1" default="$2" value=""
  if [[ -n "${!name:-}" ]]; then
    printf '%s' "${!name}"
    return
  fi
  if [[ -f .env ]]; then
    value="$(sed -n "s/^[[:space:]]*${name}[[:space:]]*=[[:space:]]*//p" .env | tail -n 1)"
    value="${value%\"}" value="${value#\"}" value="${value%\'}" value="${value#\'}"
  fi
  printf '%s' "${value:-$default}"
}

API_PORT="$(setting API_PORT 8001)"
SHUTDOWN_TIMEOUT="$(setting SHUTDOWN_TIMEOUT 30)"
IMAGE="$(setting IMAGE ncr-upload)"
TAG="$(setting TAG latest)"
API_URL="${API_URL:-http://127.0.0.1:${API_PORT}}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-180}"
DRAIN_TIMEOUT="${DRAIN_TIMEOUT:-30}"
# Running jobs get SHUTDOWN_TIMEOUT seconds, then are handed back; docker stop waits a bit longer.
STOP_TIMEOUT=$((SHUTDOWN_TIMEOUT + 15))
COMPOSE=(docker compose)
PROBE=(node packages/worker-runner/dist/probe.js)

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() {
  log "error: $*" >&2
  exit 1
}

require() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed"
  "${COMPOSE[@]}" version >/dev/null 2>&1 || die "docker compose (v2) is not available"
  [[ -f .env ]] || die ".env is missing: cp .env.example .env and edit it"
}

container_ids() { "${COMPOSE[@]}" ps --quiet "$1" 2>/dev/null || true; }

ip_of() { docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1" | awk '{print $1}'; }

# One command on HAProxy's runtime API (inside the proxy container, over bash's /dev/tcp).
haproxy_cmd() {
  # shellcheck disable=SC2016 # expanded by the container's bash
  "${COMPOSE[@]}" exec -T proxy bash -c \
    'exec 3<>/dev/tcp/127.0.0.1/9999 && printf "%s\n" "$1" >&3 && cat <&3' _ "$1"
}

# "slot address status sessions" for each server slot of backend api that has an address.
proxy_servers() {
  haproxy_cmd 'show stat' | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == "api" && $2 != "BACKEND" && $2 != "FRONTEND" {
      split($col["addr"], a, ":"); if (a[1] != "") print $2, a[1], $col["status"], $col["scur"]
    }'
}

# Wait until every container given answers /ready (ncr-upload probe ready inside it) and, for api,
# until HAProxy routes to it (status UP). Docker's health status is not waited on: it lags by an
# interval and, on a busy host, flaps with slow /live answers that say nothing about readiness.
wait_ready() {
  local service="$1" deadline=$((SECONDS + HEALTH_TIMEOUT)) id status ip
  shift
  for id in "$@"; do
    while :; do
      status="$(docker inspect --format '{{.State.Status}}' "$id" 2>/dev/null || echo missing)"
      case "$status" in exited | dead | missing) return 1 ;; esac
      [[ "$status" == running ]] && docker exec "$id" "${PROBE[@]}" ready >/dev/null 2>&1 && break
      ((SECONDS < deadline)) || return 1
      sleep 1
    done
    [[ "$service" == api ]] || continue
    ip="$(ip_of "$id")"
    until proxy_servers | awk -v ip="$ip" '$2 == ip && $3 == "UP" { found = 1 } END { exit !found }'; do
      ((SECONDS < deadline)) || return 1
      sleep 1
    done
  done
}

# Readiness goes false first: HAProxy stops sending new requests to these replicas (state drain),
# and we wait until the requests they are serving are answered. Prints the slots drained.
drain_in_proxy() {
  local id ip slot deadline=$((SECONDS + DRAIN_TIMEOUT)) slots=()
  for id in "$@"; do
    ip="$(ip_of "$id")"
    slot="$(proxy_servers | awk -v ip="$ip" '$2 == ip { print $1; exit }')"
    if [[ -n "$slot" ]]; then
      haproxy_cmd "set server api/$slot state drain" >/dev/null
      slots+=("$slot")
    fi
  done
  ((${#slots[@]} > 0)) || return 0
  while proxy_servers | awk -v list=" ${slots[*]} " 'index(list, " " $1 " ") && $4 > 0 { busy = 1 } END { exit !busy }'; do
    ((SECONDS < deadline)) || {
      log "api: requests still in flight after ${DRAIN_TIMEOUT}s; stopping anyway" >&2
      break
    }
    sleep 0.5
  done
  printf '%s\n' "${slots[@]}"
}

# Start new containers of a service next to the old ones, wait until they are ready (and routed
# to), then drain the old ones: out of the proxy first (api), then SIGTERM (they stop taking jobs,
# finish running ones within SHUTDOWN_TIMEOUT and hand the rest back to the queue).
roll_service() {
  local service="$1" old=() new=() slots=() count started
  started=$SECONDS
  mapfile -t old < <(container_ids "$service")
  count="${#old[@]}"
  ((count > 0)) || count="$(setting "$(tr '[:lower:]' '[:upper:]' <<<"$service")_REPLICAS" 2)"
  log "$service: starting $count new container(s) next to ${#old[@]} old one(s)"
  "${COMPOSE[@]}" up -d --no-deps --no-recreate --no-build --scale "$service=$((${#old[@]} + count))" "$service"
  mapfile -t new < <(comm -13 <(printf '%s\n' "${old[@]}" | sort) <(container_ids "$service" | sort))
  if ! wait_ready "$service" "${new[@]}"; then
    log "$service: new containers did not become ready in ${HEALTH_TIMEOUT}s; removing them, the old ones keep serving"
    ((${#new[@]} == 0)) || docker rm -f "${new[@]}" >/dev/null
    return 1
  fi
  log "$service: ${#new[@]} new container(s) ready"
  if ((${#old[@]} > 0)); then
    if [[ "$service" == api ]]; then
      mapfile -t slots < <(drain_in_proxy "${old[@]}")
      log "api: old replicas out of the proxy (${slots[*]:-none}); stopping them"
    fi
    log "$service: draining ${#old[@]} old container(s) (SIGTERM, up to ${STOP_TIMEOUT}s)"
    docker stop --time "$STOP_TIMEOUT" "${old[@]}" >/dev/null
    docker rm "${old[@]}" >/dev/null
    # The freed slots take the next replicas that appear: clear their drain state.
    local slot
    for slot in "${slots[@]}"; do haproxy_cmd "set server api/$slot state ready" >/dev/null || true; done
  fi
  log "$service: rolled in $((SECONDS - started))s"
}

roll_all() {
  "${COMPOSE[@]}" up -d --no-recreate redis proxy
  roll_service api || return 1
  roll_service worker || return 1
}

deploy() {
  require
  export APP_VERSION="${APP_VERSION:-$(git describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)}"
  local started=$SECONDS current
  current="$(docker image inspect --format '{{.Id}}' "$IMAGE:$TAG" 2>/dev/null || true)"
  log "building $IMAGE:$TAG (version $APP_VERSION)"
  "${COMPOSE[@]}" build
  if [[ -n "$current" && "$current" != "$(docker image inspect --format '{{.Id}}' "$IMAGE:$TAG")" ]]; then
    docker tag "$current" "$IMAGE:previous"
  fi
  roll_all || die "deploy stopped; the containers still running serve the version they had (./deploy.sh status)"
  log "deployed $APP_VERSION in $((SECONDS - started))s"
  health
}

rollback() {
  require
  docker image inspect "$IMAGE:previous" >/dev/null 2>&1 || die "no previous image ($IMAGE:previous) to roll back to"
  local started=$SECONDS current
  current="$(docker image inspect --format '{{.Id}}' "$IMAGE:$TAG")"
  log "rolling back to $IMAGE:previous ($(version_of "$IMAGE:previous"))"
  docker tag "$IMAGE:previous" "$IMAGE:$TAG"
  docker tag "$current" "$IMAGE:previous"
  roll_all || die "rollback stopped; ./deploy.sh status shows what runs"
  log "rolled back in $((SECONDS - started))s"
  health
}

version_of() { docker inspect --format '{{index .Config.Labels "org.opencontainers.image.version"}}' "$1" 2>/dev/null || echo '?'; }

status() {
  require
  local id
  printf '%-28s %-8s %-10s %-10s %-14s %s\n' CONTAINER SERVICE STATE HEALTH IMAGE VERSION
  for id in $("${COMPOSE[@]}" ps --all --quiet); do
    docker inspect --format '{{.Name}} {{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} {{slice .Image 7 19}} {{index .Config.Labels "org.opencontainers.image.version"}}' "$id" |
      awk '{ printf "%-28s %-8s %-10s %-10s %-14s %s\n", substr($1, 2), $2, $3, $4, $5, ($6 == "" ? "-" : $6) }'
  done
  if [[ -n "$(container_ids proxy)" ]]; then
    printf '\nproxy (HAProxy backend api): slot address status sessions\n'
    proxy_servers || true
  fi
}

# /health and /ready through the proxy; waits up to HEALTH_WAIT seconds (30) for them to pass,
# so it also works right after `docker compose up`.
health() {
  local failed path deadline=$((SECONDS + ${HEALTH_WAIT:-30}))
  while :; do
    failed=0
    for path in /health /ready; do
      curl --silent --fail --max-time 5 --output /dev/null "$API_URL$path" || failed=1
    done
    ((failed == 0 || SECONDS >= deadline)) && break
    sleep 1
  done
  for path in /health /ready; do
    if curl --silent --show-error --fail --max-time 5 --output /dev/null "$API_URL$path"; then
      log "$API_URL$path ok"
    else
      log "$API_URL$path FAILED"
      failed=1
    fi
  done
  return "$failed"
}

monitor() {
  while :; do
    clear || true
    "${COMPOSE[@]}" ps
    printf '\nmemory: '
    curl --silent --max-time 5 "$API_URL/memory-stats" || printf 'unavailable'
    printf '\nworkers: '
    curl --silent --max-time 5 "$API_URL/worker-stats" || printf 'unavailable'
    printf '\n'
    sleep 5
  done
}

case "${1:-}" in
  deploy) deploy ;;
  rollback) rollback ;;
  status) status ;;
  health) health ;;
  monitor) monitor ;;
  *)
    sed -n '2,15p' "$0"
    exit 2
    ;;
esac
