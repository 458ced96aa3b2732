#!/usr/bin/env bash
# Zero-downtime deployment of ncr-upload with Docker Compose.
#
#   ./deploy.sh deploy     build, start new containers next to the old ones,
#                          wait until they are healthy, then drain and stop the old ones
#   ./deploy.sh rollback   the same with the previous image
#   ./deploy.sh health     check /health and /ready of the API
#   ./deploy.sh monitor    print containers, memory and worker statistics every 5 s
#
# Environment: IMAGE (ncr-upload), API_URL (http://127.0.0.1:${API_PORT:-8001}),
# HEALTH_TIMEOUT seconds to wait for new containers (120).
set -euo pipefail

IMAGE="${IMAGE:-ncr-upload}"
API_URL="${API_URL:-http://127.0.0.1:${API_PORT:-8001}}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
COMPOSE=(docker compose)

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "error: $*" >&2; exit 1; }

require() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed"
  "${COMPOSE[@]}" version >/dev/null 2>&1 || die "docker compose is not available"
  [[ -f .env ]] || die ".env is missing: cp .env.example .env and edit it"
}

container_ids() {
  "${COMPOSE[@]}" ps --quiet "$1" 2>/dev/null || true
}

wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) id status
  for id in "$@"; do
    while :; do
      status="$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo missing)"
      case "$status" in
        healthy | running) break ;;
        unhealthy | exited | dead | missing) return 1 ;;
      esac
      ((SECONDS < deadline)) || return 1
      sleep 2
    done
  done
}

# Start new containers of a service next to the old ones, wait for them, then stop the old ones
# (SIGTERM: they stop taking jobs, finish running ones and hand the rest back).
roll_service() {
  local service="$1" old new count
  mapfile -t old < <(container_ids "$service")
  count="${#old[@]}"
  ((count > 0)) || count=1
  log "$service: starting $count new container(s) next to ${#old[@]} old one(s)"
  "${COMPOSE[@]}" up -d --no-deps --no-recreate --scale "$service=$((count * 2))" "$service"
  mapfile -t new < <(comm -13 <(printf '%s\n' "${old[@]}" | sort) <(container_ids "$service" | sort))
  if ! wait_healthy "${new[@]}"; then
    log "$service: new containers are not healthy; removing them and keeping the old ones"
    ((${#new[@]} == 0)) || docker rm -f "${new[@]}" >/dev/null
    return 1
  fi
  if ((${#old[@]} > 0)); then
    log "$service: draining ${#old[@]} old container(s)"
    docker stop --time 45 "${old[@]}" >/dev/null
    docker rm "${old[@]}" >/dev/null
  fi
  "${COMPOSE[@]}" up -d --no-deps --no-recreate --scale "$service=$count" "$service" >/dev/null
  log "$service: done"
}

deploy() {
  require
  if docker image inspect "$IMAGE:latest" >/dev/null 2>&1; then
    docker tag "$IMAGE:latest" "$IMAGE:previous"
  fi
  log "building $IMAGE:latest"
  "${COMPOSE[@]}" build
  "${COMPOSE[@]}" up -d redis
  roll_service api || die "deploy of the API failed; the old version still serves (./deploy.sh rollback not needed)"
  roll_service worker || die "deploy of the workers failed; the old workers keep running"
  health
}

rollback() {
  require
  docker image inspect "$IMAGE:previous" >/dev/null 2>&1 || die "no previous image ($IMAGE:previous) to roll back to"
  log "rolling back to $IMAGE:previous"
  docker tag "$IMAGE:previous" "$IMAGE:latest"
  roll_service api || die "rollback of the API failed"
  roll_service worker || die "rollback of the workers failed"
  health
}

health() {
  local failed=0
  for path in /health /ready; do
    if curl --silent --show-error --fail --max-time 5 "$API_URL$path" >/dev/null; then
      log "$path ok"
    else
      log "$path FAILED"
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
  health) health ;;
  monitor) monitor ;;
  *)
    sed -n '2,12p' "$0"
    exit 2
    ;;
esac
