#!/bin/sh
# Starts Alertmanager with alertmanager.yml, adding a webhook to the default receiver when
# ALERTMANAGER_WEBHOOK_URL is set (http:// or https://; the URL may carry a token, so it is never
# printed). Extra arguments go to Alertmanager. ALERTMANAGER_BIN, ALERTMANAGER_CONFIG_DIR and
# ALERTMANAGER_STORAGE let the tests run the same script outside the container.
set -eu
dir=${ALERTMANAGER_CONFIG_DIR:-/etc/alertmanager}
storage=${ALERTMANAGER_STORAGE:-/alertmanager}
config="$storage/alertmanager.running.yml"
mkdir -p "$storage"
cp "$dir/alertmanager.yml" "$config"
url=${ALERTMANAGER_WEBHOOK_URL:-}
if [ -n "$url" ]; then
  case "$url" in
    http://* | https://*) ;;
    *) echo "ALERTMANAGER_WEBHOOK_URL must start with http:// or https://" >&2; exit 1 ;;
  esac
  case "$url" in
    *\"* | *\\* | *"
"*) echo "ALERTMANAGER_WEBHOOK_URL must not contain quotes, backslashes or line breaks" >&2; exit 1 ;;
  esac
  chmod 600 "$config"
  printf '    webhook_configs:\n      - url: "%s"\n        send_resolved: true\n' "$url" >>"$config"
  echo "alertmanager: default receiver sends to the webhook in ALERTMANAGER_WEBHOOK_URL" >&2
else
  echo "alertmanager: ALERTMANAGER_WEBHOOK_URL is not set; alerts are only shown at :9093" >&2
fi
exec "${ALERTMANAGER_BIN:-/bin/alertmanager}" --config.file="$config" --storage.path="$storage" "$@"
