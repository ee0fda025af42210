#!/usr/bin/env bash
# Installs the Debian packages the browser suite (chromium) and the queue suite (postgresql,
# redis-server) run, when their programs are missing:
#
#   test/e2e/install-debian-packages.sh chromium postgresql redis-server
#
# The suites call it for what they need (editorBrowser.ts, test/queue/services.ts); .ci/run also
# starts it in the background while `npm test` runs, so a fresh machine does not wait for apt
# later. One apt-get at a time (a lock): a second caller waits, then finds the programs there.
# The last line printed says what was done.
set -euo pipefail

# present <package>: are the programs the suites run from <package> there?
present() {
	case "$1" in
		chromium) [[ -x /usr/bin/chromium ]] ;;
		postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null ;;
		redis-server) command -v redis-server >/dev/null ;;
		*) echo "install-debian-packages: unknown package '$1' (chromium, postgresql, redis-server)" >&2; exit 2 ;;
	esac
}

[[ $# -gt 0 ]] || { echo "usage: $0 chromium|postgresql|redis-server..." >&2; exit 2; }
for package in "$@"; do present "$package" || true; done   # rejects unknown names early

exec 9>"${TMPDIR:-/tmp}/camb-e2e-apt.lock"
flock 9

missing=()
for package in "$@"; do present "$package" || missing+=("$package"); done
if [[ ${#missing[@]} -eq 0 ]]; then
	echo "$* already installed"
	exit 0
fi

started=$SECONDS
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
for package in "${missing[@]}"; do
	present "$package" || { echo "apt-get installed $package but its programs are still missing" >&2; exit 1; }
done
echo "installed ${missing[*]} with apt-get in $((SECONDS - started)) s"
