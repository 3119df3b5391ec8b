#!/usr/bin/env bash
# End-to-end tests (.ci/run calls this): the browser test and the
# deployment tests of docs/deploy.md. Installs Debian's chromium when it is
# missing (.ci/run installs nginx-light and systemd; tests whose program is
# absent skip), then runs the tests of this module with the race detector. Extra arguments go to go test (e.g. -run, -v, -update-docs).
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing chromium"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

go test -race ./... "$@"
